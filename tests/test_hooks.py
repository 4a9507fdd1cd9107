"""The hooks: a bad answer stops the bake with one clear sentence; the variant merges in."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from .harness import TEMPLATE, bake_cli

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
    result = bake_cli(tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cd my-service\n" in result.stdout
    assert "uv run my-service dev" in result.stdout
    env = (tmp_path / "my-service" / ".env").read_text()
    assert "SECRET_KEY=change-me" not in env
    assert ".env" in (tmp_path / "my-service" / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("output_dir", ["..", "out/here", "."])
def test_printed_cd_reaches_the_project_from_where_the_user_stands(
    tmp_path: Path, output_dir: str
) -> None:
    """The README's own command uses `--output-dir ..`: the printed `cd` must work after it."""
    here = tmp_path / "checkout"
    (here / output_dir).mkdir(parents=True, exist_ok=True)
    result = bake_cli(output_dir, "project_name=Billing API", cwd=here)
    assert result.returncode == 0, result.stderr
    [printed] = re.findall(r"^\s+cd (\S+)$", result.stdout, re.M)
    assert (here / printed / "pyproject.toml").is_file(), result.stdout
    assert (here / printed).resolve() == (here / output_dir / "billing-api").resolve()


NAME_ANSWERS = [
    ("", "ERROR: project_name is empty: give the service a name"),
    ("   ", "ERROR: project_name is empty: give the service a name"),
    ("123 API", "ERROR: project_name '123 API' starts with a digit"),
    ("!!!", "ERROR: project_name '!!!' has no letters or digits"),
    ("Flask", "ERROR: package_name 'flask', made from project_name 'Flask', would shadow"),
]


@pytest.mark.parametrize(("name", "message"), NAME_ANSWERS)
def test_bad_names_are_blamed_on_what_the_user_typed(
    tmp_path: Path, name: str, message: str
) -> None:
    result = bake_cli(tmp_path, f"project_name={name}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output
    assert "already exists" not in output
    # One sentence: nothing about a slug or package the user never typed.
    assert len(re.findall(r"^ERROR: (?!Stopping generation)", output, re.M)) == 1, output
    assert list(tmp_path.iterdir()) == []


def test_a_name_with_a_leading_digit_is_told_what_to_type(tmp_path: Path) -> None:
    said = bake_cli(tmp_path, "project_name=123 API")
    [suggestion] = re.findall(r"\(e\.g\. '([^']+)'\)", said.stdout + said.stderr)
    result = bake_cli(tmp_path, "project_name=123 API", f"project_slug={suggestion}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / suggestion / "pyproject.toml").is_file()


def test_doubled_spaces_and_accents_in_the_name_make_a_clean_slug(tmp_path: Path) -> None:
    result = bake_cli(tmp_path, "project_name=Café  Billing_Service")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cafe-billing-service" / "src" / "cafe_billing_service").is_dir()


def test_a_refused_bake_starts_with_the_hooks_sentence(tmp_path: Path) -> None:
    """The hook prints only its sentences; cookiecutter's own lines come after them."""
    command = [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input"]
    answers = ["-o", str(tmp_path), "author_email=nope", "package_name=class"]
    # As on a terminal: one stream, in the order it was written.
    result = subprocess.run(
        [*command, *answers],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.stdout.splitlines()[:2] == [
        "ERROR: package_name 'class' is a Python keyword: choose another name "
        "(e.g. 'class_service').",
        "ERROR: author_email 'nope' is not a valid email address: use the form 'name@example.com'.",
    ]


def pinned_cookiecutter() -> str:
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
    [pin] = [d for d in project["dependency-groups"]["dev"] if d.startswith("cookiecutter==")]
    return pin.removeprefix("cookiecutter==")


def test_readme_says_what_cookiecutter_prints_itself_with_its_version() -> None:
    readme = (TEMPLATE / "README.md").read_text()
    version = pinned_cookiecutter()
    assert f"cookiecutter {version} then prints its own traceback" in readme
    assert "framework=django" in readme


def test_a_bad_choice_is_refused_by_cookiecutter_with_the_valid_choices(tmp_path: Path) -> None:
    """cookiecutter itself rejects a choice before the hook runs; its last line names both."""
    result = bake_cli(tmp_path, "framework=django")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "django" in last
    assert "['fastapi', 'flask']" in last
    assert list(tmp_path.iterdir()) == []


def load_post_gen_hook() -> ModuleType:
    path = TEMPLATE / "hooks" / "post_gen_project.py"
    spec = importlib.util.spec_from_file_location("post_gen", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def test_keep_variant_merges_a_folder_both_have(tmp_path: Path) -> None:
    """variants/flask/k8s/ goes into the shared k8s/, not inside it as k8s/k8s/."""
    write_tree(tmp_path, {
        "k8s/base/deployment.yaml": "shared",
        "Makefile": "shared",
        "variants/flask/k8s/base/worker.yaml": "flask",
        "variants/flask/k8s/flask-only.yaml": "flask",
        "variants/flask/src/app.py": "flask",
        "variants/fastapi/k8s/base/worker.yaml": "fastapi",
    })  # fmt: skip
    load_post_gen_hook().keep_variant("flask", tmp_path)
    assert tree(tmp_path) == {
        "k8s/base/deployment.yaml": "shared",
        "k8s/base/worker.yaml": "flask",
        "k8s/flask-only.yaml": "flask",
        "Makefile": "shared",
        "src/app.py": "flask",
    }


def test_keep_variant_refuses_a_file_both_have_and_moves_nothing(tmp_path: Path) -> None:
    files = {
        "k8s/base/deployment.yaml": "shared",
        "variants/fastapi/k8s/base/deployment.yaml": "fastapi",
        "variants/fastapi/Makefile": "fastapi",
        "variants/fastapi/src/app.py": "fastapi",
    }
    write_tree(tmp_path, files | {"Makefile": "shared"})
    with pytest.raises(SystemExit) as refused:
        load_post_gen_hook().keep_variant("fastapi", tmp_path)
    assert str(refused.value) == (
        "ERROR: the fastapi variant and the shared files both have Makefile, "
        "k8s/base/deployment.yaml: the template must keep each file in one place."
    )
    assert tree(tmp_path) == files | {"Makefile": "shared"}
