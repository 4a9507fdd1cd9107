"""What both variants must share stays the same in both: a drift guard.

The two services are separate trees on purpose, but a few things in them are one thing
written twice, and a project must be able to switch framework without touching its data:

- every migration script in `migrations/versions/`, byte for byte, by file name (one
  database schema, whichever framework runs it);
- `migrations/script.py.mako`, the template new migrations are written from;
- the `[alembic]` section of `alembic.ini` (where the scripts are, how they are named);
- the columns of every model (`models.py` files under `src/<package>/`): class, table, and
  each `Mapped[...]` attribute with its `mapped_column(...)` arguments, as written.

Everything else may differ. The last tests plant a drift in a copy and watch it caught.
"""

from __future__ import annotations

import ast
import configparser
import shutil
from pathlib import Path

import pytest

from .harness import TEMPLATE

VARIANTS = TEMPLATE / "{{cookiecutter.project_slug}}" / "variants"
IDENTICAL_FILES = ["migrations/script.py.mako"]
MIGRATIONS = "migrations/versions"


def migration_drift(first: Path, second: Path) -> list[str]:
    names = {
        root.name: {path.name for path in (root / MIGRATIONS).glob("*.py")}
        for root in (first, second)
    }
    found = [
        f"{MIGRATIONS}/{name} is only in {root.name}"
        for root, other in ((first, second), (second, first))
        for name in sorted(names[root.name] - names[other.name])
    ]
    for name in sorted(names[first.name] & names[second.name]):
        if (first / MIGRATIONS / name).read_bytes() != (second / MIGRATIONS / name).read_bytes():
            found.append(f"{MIGRATIONS}/{name} differs")
    return found


def alembic_settings(root: Path) -> dict[str, str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(root / "alembic.ini", encoding="utf-8")
    return dict(config["alembic"])


def model_columns(path: Path) -> dict[str, list[str]]:
    """Each class of a models module: its table name and its mapped attributes, as written."""
    models: dict[str, list[str]] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef):
            continue
        columns = []
        for statement in node.body:
            if isinstance(statement, ast.Assign) and ast.unparse(statement.targets[0]) == (
                "__tablename__"
            ):
                columns.append(f"__tablename__ = {ast.unparse(statement.value)}")
            elif isinstance(statement, ast.AnnAssign) and "Mapped[" in ast.unparse(
                statement.annotation
            ):
                value = ast.unparse(statement.value) if statement.value else ""
                columns.append(f"{ast.unparse(statement.target)}: {value}")
        if columns:
            models[node.name] = columns
    return models


def models_modules(root: Path) -> dict[str, Path]:
    return {str(path.relative_to(root)): path for path in sorted(root.glob("src/*/**/models.py"))}


def model_drift(first: Path, second: Path) -> list[str]:
    modules = {root.name: models_modules(root) for root in (first, second)}
    found = []
    for name in sorted(modules[first.name].keys() | modules[second.name].keys()):
        if name not in modules[first.name] or name not in modules[second.name]:
            found.append(f"{name} is in one variant only")
            continue
        ours = model_columns(modules[first.name][name])
        theirs = model_columns(modules[second.name][name])
        for model in sorted(ours.keys() | theirs.keys()):
            if ours.get(model) != theirs.get(model):
                found.append(f"{name}: {model}'s columns differ")
    return found


def drift(first: Path, second: Path) -> list[str]:
    """Every difference between two variant trees in what they must share."""
    found = [
        f"{name} differs"
        for name in IDENTICAL_FILES
        if (first / name).read_bytes() != (second / name).read_bytes()
    ]
    found += migration_drift(first, second)
    if alembic_settings(first) != alembic_settings(second):
        found.append("the [alembic] section of alembic.ini differs")
    return found + model_drift(first, second)


def test_both_variants_share_migrations_alembic_settings_and_model_columns() -> None:
    variants = sorted(path for path in VARIANTS.iterdir() if path.is_dir())
    assert len(variants) == 2, variants
    assert list((variants[0] / MIGRATIONS).glob("*.py")), "no migration to compare"
    assert models_modules(variants[0]), "no models module to compare"
    assert drift(*variants) == []


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """Both variant trees copied, without their locks and caches (not compared here)."""
    ignore = shutil.ignore_patterns("uv.lock", "__pycache__", ".venv")
    fastapi = shutil.copytree(VARIANTS / "fastapi", tmp_path / "fastapi", ignore=ignore)
    flask = shutil.copytree(VARIANTS / "flask", tmp_path / "flask", ignore=ignore)
    assert drift(fastapi, flask) == []
    return fastapi, flask


def test_a_changed_a_missing_and_an_extra_migration_are_caught(copies: tuple[Path, Path]) -> None:
    fastapi, flask = copies
    first, *rest = sorted((flask / MIGRATIONS).glob("*.py"))
    first.write_text(first.read_text() + "\n# drift\n")
    (fastapi / MIGRATIONS / "20990101_9999_only_here.py").write_text("revision = '9999'\n")
    for path in rest:
        path.unlink()
    found = drift(fastapi, flask)
    assert f"{MIGRATIONS}/{first.name} differs" in found
    assert f"{MIGRATIONS}/20990101_9999_only_here.py is only in fastapi" in found
    assert [f"{MIGRATIONS}/{path.name} is only in fastapi" for path in rest] == [
        line for line in found if line.endswith("only in fastapi") and "9999" not in line
    ]


def test_a_column_changed_in_one_variant_is_caught(copies: tuple[Path, Path]) -> None:
    fastapi, flask = copies
    [tasks] = flask.glob("src/*/tasks/models.py")
    text = tasks.read_text()
    assert "mapped_column(String(200))" in text
    tasks.write_text(text.replace("mapped_column(String(200))", "mapped_column(String(300))"))
    relative = tasks.relative_to(flask)
    assert drift(fastapi, flask) == [f"{relative}: Task's columns differ"]


def test_a_drifted_script_template_or_alembic_setting_is_caught(
    copies: tuple[Path, Path],
) -> None:
    fastapi, flask = copies
    mako = flask / "migrations" / "script.py.mako"
    mako.write_text(mako.read_text() + "\n# drift\n")
    ini = fastapi / "alembic.ini"
    ini.write_text(ini.read_text().replace("prepend_sys_path = .", "prepend_sys_path = src"))
    assert drift(fastapi, flask) == [
        "migrations/script.py.mako differs",
        "the [alembic] section of alembic.ini differs",
    ]
