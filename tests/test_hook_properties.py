"""Property-based tests of the pre-generation hook's validation (hypothesis).

The hook's `validate` is pure, so most properties run it directly on many generated
answers; a bounded number of examples then go through a real bake: every rejected answer
leaves no directory, every accepted one bakes a project whose own tests pass.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import TEMPLATE, bake_cli, clean_env, run


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_gen", TEMPLATE / "hooks/pre_gen_project.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = load_hook()
DEFAULTS = {
    "project_name": "My Service",
    "project_slug": "my-service",
    "package_name": "my_service",
    "author_email": "you@example.com",
}
slug_like = st.text(alphabet="abcxyz019-_ .A", min_size=0, max_size=12)
package_like = st.one_of(
    st.text(alphabet="abcxyz019_-.A", min_size=0, max_size=12),
    st.sampled_from(sorted([*keyword.kwlist, "os", "json", "fastapi", "flask", "test"])),
)
email_like = st.one_of(
    st.emails().map(str),
    st.text(alphabet="ab@.- x", max_size=12),
)


@given(slug=slug_like, package=package_like, email=email_like, name=st.text(max_size=20))
def test_validate_never_crashes_and_names_each_bad_answer(
    slug: str, package: str, email: str, name: str
) -> None:
    answers = {"project_name": name, "project_slug": slug, "package_name": package}
    problems = hook.validate(answers | {"author_email": email})
    assert all(isinstance(p, str) and p.endswith(".") for p in problems)
    named = {p.split(" ", 1)[0] for p in problems}
    assert named <= {"project_name", "project_slug", "package_name", "author_email"}


@given(slug=slug_like)
def test_accepted_slugs_are_normalised_distribution_names(slug: str) -> None:
    accepted = not any(
        p.startswith("project_slug") for p in hook.validate(DEFAULTS | {"project_slug": slug})
    )
    # PEP 503 normalisation leaves an accepted slug unchanged, and it is a valid command name.
    normalised = re.sub(r"[-_.]+", "-", slug).lower()
    if accepted:
        assert normalised == slug
        assert slug[0].isalpha()
        assert not slug.endswith("-")


@given(package=package_like)
def test_accepted_package_names_import_cleanly(package: str) -> None:
    accepted = not any(
        p.startswith("package_name") for p in hook.validate(DEFAULTS | {"package_name": package})
    )
    if accepted:
        assert package.isidentifier()
        assert not keyword.iskeyword(package)
        assert package not in sys.stdlib_module_names
        assert package == package.lower()


bad_answers = st.one_of(
    slug_like.filter(lambda s: not hook.SLUG_PATTERN.fullmatch(s)).map(
        lambda s: f"project_slug={s}"
    ),
    st.sampled_from(["class", "json", "fastapi", "2x", "a-b"]).map(lambda p: f"package_name={p}"),
    st.text(alphabet="ab.- ", max_size=8).map(lambda e: f"author_email={e}"),
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=bad_answers)
def test_every_rejected_answer_leaves_no_directory(tmp_path: Path, answer: str) -> None:
    output = Path(tempfile.mkdtemp(dir=tmp_path))
    result = bake_cli(output, answer)
    assert result.returncode != 0
    # A slug such as "" or "." names the output folder itself: cookiecutter stops on its own
    # ("directory already exists") before the hook runs. Either way nothing is written.
    said = result.stderr + result.stdout
    assert "ERROR: " in said or "already exists" in said
    assert list(output.iterdir()) == []


good_names = st.from_regex(r"[a-z][a-z0-9]{1,6}(-[a-z0-9]{1,5})?", fullmatch=True).filter(
    lambda slug: (
        not hook.validate(DEFAULTS | {"project_slug": slug, "package_name": slug.replace("-", "_")})
    )
)


@pytest.mark.slow
@settings(
    max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(slug=good_names)
def test_every_accepted_answer_bakes_a_project_whose_tests_pass(tmp_path: Path, slug: str) -> None:
    output = Path(tempfile.mkdtemp(dir=tmp_path))
    package = slug.replace("-", "_")
    result = bake_cli(output, f"project_slug={slug}", f"package_name={package}")
    assert result.returncode == 0, result.stderr
    project = output / slug
    synced = run(["uv", "sync", "--locked", "-q"], cwd=project)
    assert synced.returncode == 0, synced.stderr
    tests = run(
        ["uv", "run", "--locked", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
        cwd=project,
        env=clean_env(),
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
