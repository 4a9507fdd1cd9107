"""Every answer that changes the output is baked and the baked project proves itself:
clean render, only its own variant, lint, format, types, and its test suite on SQLite and
on PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from .conftest import (
    FRAMEWORKS,
    LICENSES,
    Project,
    bake,
    clean_env,
    synced,
)

# Answer sets: each license once per framework; one set also renames everything.
ANSWER_SETS = [
    {"framework": framework, "license": license_, **renamed}
    for framework in FRAMEWORKS
    for license_, renamed in zip(
        LICENSES,
        [{}, {"project_name": "Billing Gateway", "package_name": "billing"}, {}],
        strict=True,
    )
]
# `}}` alone is a legal end of a nested dict, so only openings and tags count.
UNRENDERED = re.compile(r"{{|{%|%}|{#|cookiecutter\.(?!json)\w")
LICENSE_FIRST_LINES = {
    "MIT": "MIT License",
    "Apache-2.0": "Apache License",
    "Proprietary": "Copyright (c)",
}


def answer_id(answers: dict[str, str]) -> str:
    return "-".join(answers[key] for key in ("framework", "license")) + (
        "-renamed" if "package_name" in answers else ""
    )


@pytest.fixture(scope="module", params=ANSWER_SETS, ids=answer_id)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Project:
    answers: dict[str, str] = request.param
    if answers == {"framework": answers["framework"], "license": LICENSES[0]}:
        default_bakes: dict[str, Project] = request.getfixturevalue("default_bakes")
        return default_bakes[answers["framework"]]  # the default answers: baked once already
    return synced(bake(tmp_path_factory.mktemp("bake"), **answers))


def project_files(project: Project) -> list[Path]:
    skip = {".venv", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", "var"}
    return [
        path
        for path in project.path.rglob("*")
        if path.is_file() and not skip.intersection(path.relative_to(project.path).parts)
    ]


def test_no_unrendered_template_syntax(project: Project) -> None:
    leftovers = []
    for path in project_files(project):
        if path.name == "uv.lock":
            continue  # hashes and URLs only; the project name line is checked below
        text = path.read_text(errors="replace")
        leftovers += [f"{path}: {match}" for match in UNRENDERED.findall(text)]
    assert leftovers == []
    assert f'name = "{project.slug}"' in (project.path / "uv.lock").read_text()


def test_only_the_chosen_variant_is_left(project: Project) -> None:
    assert not (project.path / "variants").exists()
    package = project.path / "src" / project.package
    assert (package / "app.py").is_file()
    others = [fw for fw in FRAMEWORKS if fw != project.framework]
    pyproject = (project.path / "pyproject.toml").read_text().lower()
    assert f'"{project.framework}' in pyproject
    for other in others:
        assert f'"{other}' not in pyproject, (
            f"{other} dependency left in a {project.framework} bake"
        )


def test_license_matches_the_answer(project: Project, request: pytest.FixtureRequest) -> None:
    answers = request.node.callspec.params["project"]
    first_line = (project.path / "LICENSE").read_text().strip().splitlines()[0]
    assert first_line.strip().startswith(LICENSE_FIRST_LINES[answers["license"]])


def test_ruff_lint_and_format_pass(project: Project) -> None:
    lint = project.run("uv", "run", "--locked", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = project.run("uv", "run", "--locked", "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_mypy_passes(project: Project) -> None:
    result = project.run("uv", "run", "--locked", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_suite_passes_on_sqlite(project: Project) -> None:
    result = project.run("uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    assert "skipped" not in result.stdout.splitlines()[-1]


# The license answer reaches only LICENSE, pyproject's metadata and a string in __init__.py,
# which the SQLite run covers: on PostgreSQL, the default and the renamed answers suffice.
ON_POSTGRES = [answers for answers in ANSWER_SETS if set(answers) != {"framework", "license"}
               or answers["license"] == LICENSES[0]]  # fmt: skip


@pytest.mark.postgres
@pytest.mark.parametrize("project", ON_POSTGRES, ids=answer_id, indirect=True)
def test_generated_suite_passes_on_postgres(project: Project, postgres_database: str) -> None:
    env = clean_env(TEST_DATABASE_URL=postgres_database)
    result = project.run("uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", env=env)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    # The suite really ran on this database: its migrations left the version table.
    with psycopg.connect(postgres_database) as db:
        assert db.execute("SELECT to_regclass('alembic_version')").fetchone() != (None,)
