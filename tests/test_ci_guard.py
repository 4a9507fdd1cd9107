"""With CI=true, PostgreSQL tests fail when PostgreSQL is unreachable; they never skip."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import psycopg
import pytest

from .conftest import TEMPLATE


def test_postgres_server_answers(postgres_server: str) -> None:
    with psycopg.connect(postgres_server) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/test"


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_unreachable_postgres_fails_in_ci_and_skips_elsewhere(ci: str, outcome: str) -> None:
    env = os.environ | {"CI": ci, "TEST_POSTGRES_URL": refused_url()}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_ci_guard.py::test_postgres_server_answers"],
        cwd=TEMPLATE, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout
    assert (result.returncode != 0) == bool(ci)
    if ci:
        assert "CI=true requires PostgreSQL" in result.stdout
