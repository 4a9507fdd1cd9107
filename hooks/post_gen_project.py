"""Keep the chosen framework's tree, write a git-ignored .env with a fresh secret key."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

FRAMEWORK = "{{ cookiecutter.framework }}"
SLUG = "{{ cookiecutter.project_slug }}"
VARIANTS = Path("variants")


def keep_variant(framework: str) -> None:
    """Move the chosen variant's files to the project root and drop every other variant."""
    chosen = VARIANTS / framework
    for item in sorted(chosen.iterdir()):
        shutil.move(str(item), item.name)
    shutil.rmtree(VARIANTS)


def write_env_file() -> None:
    """Copy .env.example to .env with a freshly generated secret key."""
    example = Path(".env.example").read_text(encoding="utf-8")
    secret = secrets.token_urlsafe(48)
    env = example.replace("SECRET_KEY=change-me", f"SECRET_KEY={secret}", 1)
    Path(".env").write_text(env, encoding="utf-8")


def main() -> None:
    keep_variant(FRAMEWORK)
    write_env_file()
    print(f"\nCreated {SLUG}. Next:\n\n    cd {SLUG}\n    uv run {SLUG} dev\n")


if __name__ == "__main__":
    main()
