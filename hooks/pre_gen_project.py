"""Reject answers that would bake a broken project, before anything is written.

Cookiecutter renders this file with Jinja; the answers arrive as one JSON document so
that quotes or backslashes in an answer cannot break the Python source.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PACKAGE_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")

# Names a generated package must not take: it would shadow one of its own dependencies
# (or their well-known import names) and break imports in confusing ways.
RESERVED_PACKAGE_NAMES = frozenset(
    {
        "alembic", "anyio", "app", "argon2", "asyncpg", "aiosqlite", "conftest",
        "fastapi", "flask", "flask_migrate", "flask_smorest", "flask_sqlalchemy",
        "greenlet", "gunicorn", "httpx", "jwt", "marshmallow", "migrations", "mypy",
        "psycopg", "pwdlib", "pydantic", "pydantic_settings", "pytest", "ruff",
        "sqlalchemy", "src", "starlette", "tests", "uvicorn", "werkzeug",
    }
)  # fmt: skip


# sys.stdlib_module_names leaves out the standard library's own test package.
STDLIB_MODULES = frozenset(sys.stdlib_module_names) | {"test"}


def validate(answers: dict[str, object]) -> list[str]:
    """Return one sentence per bad answer; an empty list means every answer is valid."""
    problems: list[str] = []
    slug = str(answers.get("project_slug", ""))
    package = str(answers.get("package_name", ""))
    email = str(answers.get("author_email", ""))

    if not str(answers.get("project_name", "")).strip():
        problems.append("project_name is empty: give the service a name, e.g. 'My Service'.")
    if not SLUG_PATTERN.fullmatch(slug):
        problems.append(
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen (e.g. 'my-service')."
        )
    if not PACKAGE_PATTERN.fullmatch(package) or not package.isidentifier():
        problems.append(
            f"package_name {package!r} is not a valid Python package name: use lowercase "
            "letters, digits and underscores, not starting with a digit (e.g. 'my_service')."
        )
    elif keyword.iskeyword(package) or keyword.issoftkeyword(package):
        problems.append(
            f"package_name {package!r} is a Python keyword: choose another name "
            "(e.g. 'my_service')."
        )
    elif package in STDLIB_MODULES or package in RESERVED_PACKAGE_NAMES:
        owner = "standard library" if package in STDLIB_MODULES else "dependency"
        problems.append(
            f"package_name {package!r} would shadow the {owner} module of the same name: "
            f"choose another name (e.g. '{package}_service')."
        )
    if not EMAIL_PATTERN.fullmatch(email):
        problems.append(
            f"author_email {email!r} is not a valid email address: use the form "
            "'name@example.com'."
        )
    return problems


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
