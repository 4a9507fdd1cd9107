"""Template updates: a project baked from the previous release takes this one with cruft.

CHANGELOG.md names each release by its commit. The test clones this repository, bakes the
previous release of each framework with `cruft create`, commits it as a user would, and runs
`cruft update` to the commit under test: no conflict markers, no .rej files, `.env` kept,
a database migrated by the previous release takes the new migrations, and the updated
project's own test suite passes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from .harness import GIT_ENV, TEMPLATE, clean_env, git, run, tool

pytestmark = pytest.mark.slow

CHANGELOG = TEMPLATE / "CHANGELOG.md"
RELEASE = re.compile(r"^## (\d+\.\d+\.\d+) — ([^\n]*)$", re.M)
UNDER_TEST = "under-test"


def releases() -> list[tuple[str, str | None]]:
    """(version, commit) of each release in CHANGELOG.md, newest first; None: unreleased."""
    found = []
    for version, rest in RELEASE.findall(CHANGELOG.read_text()):
        commit = re.search(r"\bcommit ([0-9a-f]{40})\b", rest)
        found.append((version, commit[1] if commit else None))
    return found


def test_changelog_versions_the_template() -> None:
    listed = releases()
    assert listed, "CHANGELOG.md lists no release"
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]
    assert listed[0][0] == project["version"], "pyproject's version is not the newest release"
    assert any(commit for _, commit in listed[1:]), "no earlier release names its commit"
    text = CHANGELOG.read_text()
    for version, _ in listed:
        section = text.split(f"## {version} — ", 1)[1].split("\n## ", 1)[0]
        assert "**By hand**" in section, f"{version} does not say what to change by hand"


def previous_release() -> str:
    commit = next(commit for _, commit in releases()[1:] if commit)
    known = run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=TEMPLATE)
    if known.returncode != 0:
        pytest.fail(
            f"CHANGELOG.md's previous release {commit} is not in this clone's history: "
            "fetch it whole (`git fetch --unshallow`; actions/checkout: fetch-depth: 0)."
        )
    return commit


def template_clone(destination: Path) -> Path:
    """This repository's history, plus the files under test as a branch of their own.

    cruft takes a template from git, so changes not yet committed here would not be part
    of the update: they are committed in the clone, on top of this checkout's HEAD.
    """
    head = run(["git", "rev-parse", "HEAD"], cwd=TEMPLATE).stdout.strip()
    git("clone", "--quiet", "--no-checkout", str(TEMPLATE), str(destination), cwd=TEMPLATE)
    git("checkout", "--quiet", "-B", UNDER_TEST, head, cwd=destination)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=TEMPLATE, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    on_disk = {name for name in listed.stdout.decode().split("\0") if (TEMPLATE / name).is_file()}
    tracked = git("ls-files", "-z", cwd=destination).stdout.split("\0")
    for name in filter(None, tracked):
        if name not in on_disk:
            (destination / name).unlink()
    for name in on_disk:
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, destination / name)
    git("add", "--all", cwd=destination)
    if git("status", "--porcelain", cwd=destination).stdout.strip():
        git("commit", "--quiet", "--message=the files under test", cwd=destination)
    return destination


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_clone(tmp_path_factory.mktemp("update") / "template")


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("cruft"), *args], cwd=cwd, env=clean_env(**GIT_ENV), timeout=300)


def test_previous_release_updates_cleanly_and_passes_its_tests(
    template: Path, framework: str, tmp_path: Path
) -> None:
    previous = previous_release()
    created = cruft(
        "create", str(template), "--checkout", previous, "--no-input",
        "--output-dir", str(tmp_path), "--extra-context", json.dumps({"framework": framework}),
        cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stdout + created.stderr
    [project] = [p for p in tmp_path.iterdir() if p.is_dir()]
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message=generated from the previous release", cwd=project)
    env_file = (project / ".env").read_text()
    # A database the previous release migrated (SQLite in the git-ignored var/).
    slug = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    migrated = run(["uv", "run", "--locked", slug, "migrate"], cwd=project, timeout=600)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    updated = cruft("update", "--skip-apply-ask", "--checkout", UNDER_TEST, cwd=project)
    said = updated.stdout + updated.stderr
    assert updated.returncode == 0, said
    under_test = git("rev-parse", UNDER_TEST, cwd=template).stdout.strip()
    assert json.loads((project / ".cruft.json").read_text())["commit"] == under_test
    conflicts = run(["git", "grep", "-n", "-E", "^(<<<<<<<|>>>>>>>)( |$)"], cwd=project)
    assert conflicts.stdout == "", f"conflict markers after the update:\n{conflicts.stdout}"
    assert sorted(project.rglob("*.rej")) == [], said
    assert (project / ".env").read_text() == env_file

    synced = run(["uv", "sync", "--locked", "--quiet"], cwd=project, timeout=600)
    assert synced.returncode == 0, synced.stderr
    # ... takes this release's migrations: the split of users and tasks included.
    upgraded = run(["uv", "run", "--locked", slug, "migrate"], cwd=project)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    tests = run(["uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
