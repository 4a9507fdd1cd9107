"""The benchmark (`python -m bench`) works end to end, in its smoke mode.

Speed is not judged here: the machine is shared and one-second cells are noise. What is
checked is that every variant bakes, migrates, serves and takes load with wrk next to the
bare baselines, and that the report has a row per workload with numbers in it.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench import targets as bench

from .harness import FRAMEWORKS, TEMPLATE, clean_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

NUMBER = re.compile(r"^\d+(\.\d+)?")


def table_rows(report: str, heading: str) -> dict[str, list[str]]:
    """The rows of the first table after `heading`, by their first cell."""
    section = report.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| ") and not line.startswith("| workload"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
        elif rows and not line.startswith("|"):
            break
    return rows


@pytest.fixture(scope="module")
def smoke_report(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    work = tmp_path_factory.mktemp("bench")
    output = work / "report.md"
    result = subprocess.run(
        # One worker per server: the harness is checked, not the machine loaded.
        [sys.executable, "-m", "bench", "--smoke", "--workers", "1",
         "--output", str(output),
         "--workdir", str(work / "bake")],
        cwd=TEMPLATE,
        env=clean_env(BENCH_POSTGRES_URL=postgres_server),
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )  # fmt: skip
    if result.returncode == bench.EXIT_NO_WRK:
        pytest.skip(f"wrk is not installed and could not be installed: {result.stderr[-500:]}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file()
    report = output.read_text()
    assert report.strip() in result.stdout, "the report is also printed"
    return report


def test_report_has_a_row_per_workload_with_numbers(smoke_report: str) -> None:
    rows = table_rows(smoke_report, "## Throughput and latency")
    assert [label.split(". ", 1)[1] for label in rows] == [w.label for w in bench.WORKLOADS]
    for label, cells in rows.items():
        # FastAPI, Starlette, Flask, bare Flask: req/s then "p50 / p99", in that order.
        for name, rps, latency in zip(bench.TARGET_ORDER, cells[0:8:2], cells[1:8:2], strict=True):
            if rps == "skipped":
                continue
            assert NUMBER.match(rps), f"{label}, {name}: req/s {rps!r}"
            assert re.fullmatch(r"\d+\.\d+ / \d+\.\d+", latency), f"{label}, {name}: {latency!r}"
        assert NUMBER.match(cells[8]), f"{label}: FastAPI ÷ Starlette {cells[8]!r}"


def test_every_framework_was_measured_or_says_why_not(smoke_report: str) -> None:
    rows = table_rows(smoke_report, "## Throughput and latency")
    first = next(iter(rows.values()))
    for framework in FRAMEWORKS:
        rps = first[bench.TARGET_ORDER.index(framework) * 2]
        if rps == "skipped":
            assert f"{bench.TARGET_LABELS[framework]} skipped: " in smoke_report
        else:
            assert NUMBER.match(rps)
    assert "skipped" not in first[2], "the bare Starlette baseline always runs"


def test_report_has_machine_facts_cpu_cold_start_and_import_time(smoke_report: str) -> None:
    for fact in ("CPUs (nproc)", "CPU model", "memory", "Python", "PostgreSQL"):
        assert f"| {fact} |" in smoke_report
    cpu = table_rows(smoke_report, "### Server CPU per request")
    assert len(cpu) == len(bench.WORKLOADS)
    assert all(NUMBER.match(cells[0]) for cells in cpu.values())
    cold = table_rows(smoke_report, "## Cold start")
    assert "fastapi" in cold
    assert re.fullmatch(r"\d+\.\d+ s", cold["fastapi"][0])
    assert "### Import time: `import my_service.app` (fastapi)" in smoke_report
