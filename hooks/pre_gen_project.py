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
    """Return one sentence per bad answer; an empty list means every answer is valid.

    A name the user did not type (the slug made from project_name, the package made from
    the slug) is blamed on the answer they did type, with what to type instead.
    """
    problems: list[str] = []
    name = str(answers.get("project_name", ""))
    slug = str(answers.get("project_slug", ""))
    package = str(answers.get("package_name", ""))
    email = str(answers.get("author_email", ""))
    # cookiecutter.json makes the default slug from the name with `slugify`; None: unknown.
    slug_from_name = answers.get("__slug_from_name")
    slug_is_derived = slug_from_name is not None and slug == (slug_from_name or "my-service")
    package_is_derived = package == slug.replace("-", "_")

    if not name.strip():
        problems.append("project_name is empty: give the service a name, e.g. 'My Service'.")
    elif slug_is_derived and not SLUG_PATTERN.fullmatch(str(slug_from_name)):
        problems.append(name_problem(name, str(slug_from_name)))
    elif not SLUG_PATTERN.fullmatch(slug):
        problems.append(
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single "
            "hyphens, starting with a letter and not ending with a hyphen (e.g. 'my-service')."
        )
    # A package made from a bad slug is bad for the same reason: one sentence is enough.
    slug_reported = bool(problems) and problems[-1].startswith(("project_name", "project_slug"))
    reason = package_problem(package)
    if reason and not (package_is_derived and slug_reported):
        if not package_is_derived:
            problems.append(f"package_name {package!r} {reason}.")
        else:
            typed = f"project_name {name!r}" if slug_is_derived else f"project_slug {slug!r}"
            problems.append(
                f"package_name {package!r}, made from {typed}, {reason}, "
                "or give package_name as well."
            )
    if not EMAIL_PATTERN.fullmatch(email):
        problems.append(
            f"author_email {email!r} is not a valid email address: use the form 'name@example.com'."
        )
    return problems


def package_problem(package: str) -> str | None:
    """What is wrong with a package name and what to do instead (no full stop), or None."""
    if not PACKAGE_PATTERN.fullmatch(package) or not package.isidentifier():
        return (
            "is not a valid Python package name: use lowercase letters, digits and "
            "underscores, not starting with a digit (e.g. 'my_service')"
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return f"is a Python keyword: choose another name (e.g. '{package}_service')"
    if package in STDLIB_MODULES or package in RESERVED_PACKAGE_NAMES:
        owner = "standard library" if package in STDLIB_MODULES else "dependency"
        return (
            f"would shadow the {owner} module of the same name: choose another name "
            f"(e.g. '{package}_service')"
        )
    return None


def name_problem(name: str, slug_from_name: str) -> str:
    """The sentence for a project_name that makes no valid folder and command name."""
    if not slug_from_name:
        return (
            f"project_name {name!r} has no letters or digits to make a folder and command "
            "name from: use letters (e.g. 'My Service'), or give project_slug as well."
        )
    # slugify leaves only one way to fail: a leading digit. Suggest the words rotated.
    words = slug_from_name.split("-")
    first = next((i for i, word in enumerate(words) if word[0].isalpha()), len(words))
    rotated = [*words[first:], *words[:first]] if first < len(words) else ["service", *words]
    return (
        f"project_name {name!r} starts with a digit, and so would its folder and command "
        f"name {slug_from_name!r}: start the name with a letter, or give project_slug as well "
        f"(e.g. '{'-'.join(rotated)}')."
    )


def main() -> int:
    answers = json.loads(r"""{{ cookiecutter | tojson }}""")
    problems = validate(answers)
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
