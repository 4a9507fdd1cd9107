"""Keep the chosen framework's tree, write a git-ignored .env with a fresh secret key."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

FRAMEWORK = "{{ cookiecutter.framework }}"
SLUG = "{{ cookiecutter.project_slug }}"
VARIANTS = Path("variants")


def keep_variant(framework: str, root: Path = Path()) -> None:
    """Merge the chosen variant's tree into the project root and drop every other variant.

    A folder both have (say k8s/) is merged file by file; a file both have stops the bake.
    """
    chosen = root / VARIANTS / framework
    clashing = clashes(chosen, root)
    if clashing:
        sys.exit(
            f"ERROR: the {framework} variant and the shared files both have "
            f"{', '.join(clashing)}: the template must keep each file in one place."
        )
    merge(chosen, root)
    shutil.rmtree(root / VARIANTS)


def clashes(source: Path, target: Path) -> list[str]:
    """The paths under `target` that a file (or folder) of `source` would overwrite."""
    found = []
    for item in sorted(source.iterdir()):
        there = target / item.name
        if item.is_dir() and there.is_dir():
            found += [f"{item.name}/{path}" for path in clashes(item, there)]
        elif there.exists():
            found.append(item.name)
    return found


def merge(source: Path, target: Path) -> None:
    """Move everything in `source` into `target`, merging folders both have."""
    for item in sorted(source.iterdir()):
        there = target / item.name
        if item.is_dir() and there.is_dir():
            merge(item, there)
        else:
            shutil.move(item, there)


def write_env_file() -> None:
    """Copy .env.example to .env with a freshly generated secret key."""
    example = Path(".env.example").read_text(encoding="utf-8")
    secret = secrets.token_urlsafe(48)
    env = example.replace("SECRET_KEY=change-me", f"SECRET_KEY={secret}", 1)
    Path(".env").write_text(env, encoding="utf-8")


def path_from_where_the_user_stands(project: Path) -> str:
    """The project's path as typed from the folder cookiecutter was run in, for `cd`."""
    # Cookiecutter runs this hook inside the project; the shell's PWD is where the user is.
    here = os.environ.get("PWD", "")
    if not here or not Path(here).is_dir():
        return shlex.quote(str(project))
    relative = os.path.relpath(project, os.path.realpath(here))
    return shlex.quote(min(relative, str(project), key=len))


def main() -> None:
    keep_variant(FRAMEWORK)
    write_env_file()
    where = path_from_where_the_user_stands(Path.cwd())
    print(f"\nCreated {where}. Next:\n\n    cd {where}\n    uv run {SLUG} dev\n")


if __name__ == "__main__":
    main()
