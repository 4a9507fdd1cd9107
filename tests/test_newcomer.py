"""What a newcomer reads and types, checked against what the code and the lock files do."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib

import pytest

from .conftest import TEMPLATE, Project, run, serve


def console_blocks(markdown: str) -> list[str]:
    return re.findall(r"```console\n(.*?)```", markdown, re.S)


def pinned(name: str) -> str:
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
    [pin] = [d for d in project["dependency-groups"]["dev"] if d.startswith(f"{name}==")]
    return pin.removeprefix(f"{name}==")


def locked_version(project: Project, package: str) -> str:
    lock = tomllib.loads((project.path / "uv.lock").read_text())
    [entry] = [p for p in lock["package"] if p["name"] == package]
    return str(entry["version"])


def test_the_first_way_to_generate_is_the_lightest() -> None:
    """`uvx` installs cookiecutter alone; `uv run` would install the whole test toolchain."""
    readme = (TEMPLATE / "README.md").read_text()
    section = readme[readme.index("## Generate a service") :]
    first = console_blocks(section)[0].strip()
    assert first.startswith(f"uvx cookiecutter@{pinned('cookiecutter')} "), first
    assert f"uvx cruft@{pinned('cruft')} create" in section


def test_the_generated_docs_generate_and_update_with_uvx(baked: Project) -> None:
    deploy = (baked.path / "DEPLOY.md").read_text()
    assert f"uvx cookiecutter@{pinned('cookiecutter')} <template>" in deploy
    assert f"uvx cruft@{pinned('cruft')} create <template>" in deploy
    readme = (baked.path / "README.md").read_text()
    assert "uvx cruft update" in readme
    assert "uv run cookiecutter" not in deploy + readme


def test_one_sqlalchemy_version_everywhere(baked: Project) -> None:
    major_minor = ".".join(locked_version(baked, "sqlalchemy").split(".")[:2])
    texts = {
        "cookiecutter.json": (TEMPLATE / "cookiecutter.json").read_text(),
        "README.md": (TEMPLATE / "README.md").read_text(),
        "generated README.md": (baked.path / "README.md").read_text(),
    }
    for name, text in texts.items():
        named = set(re.findall(r"(?<![-\w])SQLAlchemy (\d+\.\d+)", text))
        assert named == {major_minor}, f"{name} names SQLAlchemy {named}, uv.lock {major_minor}"


def test_readme_names_every_make_target(baked: Project) -> None:
    makefile = (baked.path / "Makefile").read_text()
    targets = re.findall(r"^([a-z][a-z-]*):[^\n=]*## ", makefile, re.M)
    table = (baked.path / "README.md").read_text().split("## Everyday commands", 1)[1]
    for target in targets:
        if target != "help":
            assert f"`{target}`" in table, f"README.md does not name `make {target}`"
    # A local target and a Compose one never share a name.
    assert "uv run $(SLUG) migrate" in makefile.split("\nmigrate:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^compose-migrate:", makefile, re.M)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_shows_values_not_variable_names(baked: Project) -> None:
    listed = run(["make", "help"], cwd=baked.path, timeout=30)
    assert listed.returncode == 0, listed.stderr
    assert "$(" not in listed.stdout, listed.stdout
    assert f"{baked.slug}:local" in listed.stdout


@pytest.mark.slow
@pytest.mark.postgres
def test_the_readme_curl_walkthrough_lists_the_task_it_created(
    baked: Project, postgres_database: str
) -> None:
    if shutil.which("jq") is None or shutil.which("curl") is None:
        pytest.fail("the README's walkthrough needs curl and jq (.ci/run installs them)")
    readme = (baked.path / "README.md").read_text()
    [walkthrough] = [b for b in console_blocks(readme) if b.lstrip().startswith("curl")]
    with serve(baked, postgres_database) as service:
        script = walkthrough.replace("localhost:8000", service.url.removeprefix("http://"))
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    # Each curl prints one JSON document; the last one is the list of tasks.
    decoder = json.JSONDecoder()
    documents, text = [], result.stdout.strip()
    while text:
        document, end = decoder.raw_decode(text)
        documents.append(document)
        text = text[end:].strip()
    listed = documents[-1]
    tasks = listed["items"] if isinstance(listed, dict) else listed
    titles = [task["title"] for task in tasks]
    assert titles == ["Ship it"], result.stdout
