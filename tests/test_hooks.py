"""The pre-generation hook: a bad answer stops the bake with one clear sentence."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE

BAD_ANSWERS = [
    ("project_slug", "My Service", "project_slug 'My Service' is not valid"),
    ("project_slug", "9lives", "project_slug '9lives' is not valid"),
    ("project_slug", "trailing-", "project_slug 'trailing-' is not valid"),
    ("package_name", "my-service", "package_name 'my-service' is not a valid Python package"),
    ("package_name", "2fast", "package_name '2fast' is not a valid Python package"),
    ("package_name", "class", "package_name 'class' is a Python keyword"),
    ("package_name", "fastapi", "package_name 'fastapi' would shadow the dependency"),
    ("package_name", "flask", "package_name 'flask' would shadow the dependency"),
    ("package_name", "test", "package_name 'test' would shadow the standard library"),
    ("package_name", "email", "package_name 'email' would shadow the standard library"),
    ("author_email", "not-an-email", "author_email 'not-an-email' is not a valid email"),
    ("author_email", "a@b", "author_email 'a@b' is not a valid email"),
]


def bake_cli(
    output_dir: Path, *answers: str, force: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run cookiecutter as a user would, from the command line."""
    args = [
        sys.executable,
        "-m",
        "cookiecutter",
        str(TEMPLATE),
        "--no-input",
        "-o",
        str(output_dir),
    ]
    return subprocess.run(
        [*args, *(["-f"] if force else []), *answers],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(("key", "value", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused_and_leaves_nothing(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    result = bake_cli(tmp_path, f"{key}={value}")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"ERROR: {message}" in output
    # The user's sentence comes before anything cookiecutter prints about the failure.
    assert output.index("ERROR:") < output.index("Hook script failed")
    assert list(tmp_path.iterdir()) == []


def test_refused_bake_over_an_existing_folder_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    existing = tmp_path / "my-service"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    result = bake_cli(tmp_path, "author_email=nope", force=True)
    assert result.returncode != 0
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]


def test_answers_with_quotes_and_backslashes_bake(tmp_path: Path) -> None:
    result = bake_cli(
        tmp_path,
        'project_name=Ana\'s "Quoted" Service',
        "project_slug=quoted-service",
        'description=Back\\slash "and" quotes',
        'author_name=O\'Brien "Dev"',
    )
    assert result.returncode == 0, result.stderr
    project = tmp_path / "quoted-service"
    init = next((project / "src").glob("*/__init__.py")).read_text()
    assert 'PROJECT_NAME = "Ana\\u0027s \\"Quoted\\" Service"' in init


def test_default_answers_bake_and_print_the_next_commands(tmp_path: Path) -> None:
    result = bake_cli(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cd my-service" in result.stdout
    assert "uv run my-service dev" in result.stdout
    env = (tmp_path / "my-service" / ".env").read_text()
    assert "SECRET_KEY=change-me" not in env
    assert ".env" in (tmp_path / "my-service" / ".gitignore").read_text().splitlines()
