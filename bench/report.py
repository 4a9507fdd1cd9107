"""The markdown report: machine facts, tables of req/s, latency, CPU, ratios, cold start."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from tests.harness import TEMPLATE, Project, run

from .load import Cell, Results
from .targets import (
    ALL_TARGETS,
    ORM_ORDER,
    ORM_RATIOS,
    POSTGRES_URL,
    RATIOS,
    TARGET_LABELS,
    TARGET_ORDER,
    TARGET_RATIO,
    TELEMETRY_TARGETS,
    WORKLOADS,
    Target,
    Workload,
)


def machine_facts(projects: dict[str, Project]) -> list[tuple[str, str]]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        cpuinfo = Path("/proc/cpuinfo").read_text()
        if match := re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M):
            cpu = match[1].strip()
    memory = "unknown"
    with contextlib.suppress(OSError):
        if match := re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M):
            memory = f"{int(match[1]) / 1024 / 1024:.1f} GiB"
    with psycopg.connect(POSTGRES_URL, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    pythons = {
        framework: run([project.command("python"), "-V"], cwd=project.path).stdout.strip()
        for framework, project in projects.items()
    }
    wrk_version = run(["wrk", "--version"], cwd=TEMPLATE)
    uv_version = run(["uv", "--version"], cwd=TEMPLATE).stdout.strip()
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu),
        ("memory", memory),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", ", ".join(f"{fw}: {v}" for fw, v in pythons.items())),
        ("PostgreSQL", row[0] if row else "unknown"),
        ("wrk", (wrk_version.stdout + wrk_version.stderr).split("Copyright")[0].strip()),
        ("uv", uv_version),
    ]


def fmt_rps(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def median_cell(cells: list[Cell]) -> tuple[float, float, float, int] | None:
    if not cells:
        return None
    return (
        statistics.median(c.rps for c in cells),
        statistics.median(c.p50_ms for c in cells),
        statistics.median(c.p99_ms for c in cells),
        sum(c.errors for c in cells),
    )


def ratio(
    results: Results,
    workload: str,
    top: str,
    bottom: str,
    cpu: bool = False,
) -> float | None:
    """Median of the per-run ratios (each pair measured minutes apart at most).

    Of req/s, or with cpu=True of requests per CPU-second (bottom's CPU ÷ top's CPU).
    """
    pairs = zip(results.get((workload, top), []), results.get((workload, bottom), []), strict=False)
    if cpu:
        values = [b.cpu_ms / a.cpu_ms for a, b in pairs if a and b and a.cpu_ms]
    else:
        values = [a.rps / b.rps for a, b in pairs if a and b and b.rps]
    return statistics.median(values) if values else None


@dataclass
class Measured:
    """Everything one benchmark run found, for the report."""

    targets: dict[str, Target]
    results: Results
    failures: dict[tuple[str, str], str]
    cold: dict[str, list[float]] = field(default_factory=dict)
    imports: dict[str, tuple[float, list[tuple[str, int, int]]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    profiles: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def render(
    args: argparse.Namespace,
    facts: list[tuple[str, str]],
    measured: Measured,
    started: datetime,
    load: tuple[str, str],
) -> str:
    out = render_header(args, facts, started, load)
    out += render_throughput(measured)
    out += render_cpu(measured.results)
    out += render_orm_split(measured.targets, measured.results, measured.failures)
    if any(key in measured.targets for key in TELEMETRY_TARGETS):
        out += render_telemetry(measured.targets, measured.results)
    if args.runs > 1:
        out += render_runs(measured.results)
    out += render_cold_start(args, measured)
    out += render_profiles(measured.profiles)
    out += render_notes(measured)
    return "\n".join(out) + "\n"


def render_header(
    args: argparse.Namespace, facts: list[tuple[str, str]], started: datetime,
    load: tuple[str, str],
) -> list[str]:  # fmt: skip
    out = [f"# Benchmark {started:%Y-%m-%d %H:%M}", ""]
    out.append(f"Command: `{' '.join(['uv run python -m bench', *args.argv])}`  ")
    runs = "1 run" if args.runs == 1 else f"median of {args.runs} runs"
    warmup = f", after a {args.warmup} s warm-up" if args.warmup else ""
    out.append(
        f"Load: wrk -t{args.threads} -c{args.connections}, {args.duration} s per cell{warmup}, "
        f"{runs}; loopback only. Servers: {args.workers} workers each, "
        f"{args.pool_size} database connections per worker (DATABASE_POOL_SIZE)."
    )
    out += ["", "| machine | |", "|---|---|"]
    out += [f"| {name} | {value} |" for name, value in facts]
    out.append(f"| load average (start → end) | {load[0]} → {load[1]} |")
    return out


def throughput_cells(measured: Measured, workload: Workload) -> list[str]:
    """req/s and "p50 / p99" of each main target on one workload."""
    row = []
    for key in TARGET_ORDER:
        target = measured.targets.get(key)
        if target is None or target.skipped:
            row += ["skipped", "—"]
            continue
        if (workload.key, key) in measured.failures:
            row += ["failed", "—"]
            continue
        cell = median_cell([c for c in measured.results.get((workload.key, key), []) if c])
        if cell is None:
            row += ["—", "—"]
            continue
        flag = f" ⚠{cell[3]} errors" if cell[3] else ""
        row += [f"{fmt_rps(cell[0])}{flag}", f"{cell[1]:.2f} / {cell[2]:.2f}"]
    return row


def render_throughput(measured: Measured) -> list[str]:
    out = ["", "## Throughput and latency", ""]
    out.append("req/s (higher is better), latency p50 / p99 in ms; ratios are of req/s.")
    out.append("")
    head = ["workload"]
    for key in TARGET_ORDER:
        head += [f"{TARGET_LABELS[key]} req/s", "p50 / p99 ms"]
    head += [title for title, _, _ in RATIOS]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    below = []
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}", *throughput_cells(measured, workload)]
        for title, top, bottom in RATIOS:
            value = ratio(measured.results, workload.key, top, bottom)
            row.append("—" if value is None else f"{value:.2f}")
            generated_vs_bare = bottom in {"starlette", "flask-bare"}
            if value is not None and number >= 2 and generated_vs_bare and value < TARGET_RATIO:
                below.append(f"{title} on {number}. {workload.label}: {value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    if below:
        out.append(f"Below the {TARGET_RATIO:.2f} target (workloads 2-4): {'; '.join(below)}.")
    else:
        out.append(f"Every generated/bare ratio measured on workloads 2-4 is ≥ {TARGET_RATIO:.2f}.")
    return out


def render_cpu(results: Results) -> list[str]:
    out = ["", "### Server CPU per request", ""]
    out.append(
        "CPU time (user + system) of all the server's processes during the measured cell, "
        "÷ requests, in ms (lower is better). Less sensitive to other load on the machine than "
        "req/s. Ratios are of requests per CPU-second (bare's CPU ÷ generated's CPU), so they "
        "read like the req/s ratios."
    )
    out += ["", "| workload | " + " | ".join(TARGET_LABELS[k] for k in TARGET_ORDER) + " | "]
    out[-1] += " | ".join(title for title, _, _ in RATIOS) + " |"
    out.append("|" + "---|" * (len(TARGET_ORDER) + len(RATIOS) + 1))
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}"]
        for key in TARGET_ORDER:
            cells = [c for c in results.get((workload.key, key), []) if c]
            row.append(f"{statistics.median(c.cpu_ms for c in cells):.2f}" if cells else "—")
        for _, top, bottom in RATIOS:
            value = ratio(results, workload.key, top, bottom, cpu=True)
            row.append("—" if value is None else f"{value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    return out


def render_runs(results: Results) -> list[str]:
    out = ["", "### req/s per run", ""]
    out += ["| workload | " + " | ".join(TARGET_LABELS[k] for k in ALL_TARGETS) + " |"]
    out.append("|" + "---|" * (len(ALL_TARGETS) + 1))
    for workload in WORKLOADS:
        cells = [
            " / ".join(fmt_rps(c.rps) if c else "—" for c in results.get((workload.key, k), []))
            or "—"
            for k in ALL_TARGETS
        ]
        out.append(f"| {workload.label} | " + " | ".join(cells) + " |")
    return out


def render_cold_start(args: argparse.Namespace, measured: Measured) -> list[str]:
    out = ["", "## Cold start", ""]
    out.append(
        "From spawning `<slug> serve` to the first 200 on GET /health "
        f"({args.workers} workers, bytecode already compiled)."
    )
    out += ["", "| variant | median | min | max | samples |", "|---|---|---|---|---|"]
    for framework, samples in measured.cold.items():
        if samples:
            out.append(
                f"| {framework} | {statistics.median(samples):.2f} s | {min(samples):.2f} s "
                f"| {max(samples):.2f} s | {len(samples)} |"
            )
    for framework, (total, rows) in measured.imports.items():
        package = framework_package(measured.targets, framework)
        out += ["", f"### Import time: `import {package}.app` "
                f"({framework}) — {total:.0f} ms in all", ""]  # fmt: skip
        out += ["| # | by cumulative | ms | by self | ms |", "|---|---|---|---|---|"]
        by_cumulative = sorted(rows, key=lambda r: r[2], reverse=True)[:10]
        by_self = sorted(rows, key=lambda r: r[1], reverse=True)[:10]
        for rank, (cum, own) in enumerate(zip(by_cumulative, by_self, strict=False), start=1):
            out.append(
                f"| {rank} | `{cum[0]}` | {cum[2] / 1000:.1f} | `{own[0]}` | {own[1] / 1000:.1f} |"
            )
    return out


def render_profiles(profiles: dict[tuple[str, str], list[str]]) -> list[str]:
    if not profiles:
        return []
    out = ["", "## Profiles (py-spy, GIL holders, 100 Hz)", ""]
    for workload in WORKLOADS:
        for key in ALL_TARGETS:
            if (workload.key, key) in profiles:
                out.append(f"**{TARGET_LABELS[key]}, {workload.label}.** ")
                out[-1] += " ".join(profiles[(workload.key, key)])
                out.append("")
    return out


def render_notes(measured: Measured) -> list[str]:
    targets = measured.targets.values()
    extra = [f"{t.label} skipped: {t.skipped}" for t in targets if t.skipped]
    extra += [f"{t.label}: {t.note}" for t in targets if t.note]
    extra += [f"{TARGET_LABELS[k]} on {w}: {why}" for (w, k), why in measured.failures.items()]
    extra += measured.notes
    if not extra:
        return []
    return ["", "## Notes", ""] + [f"- {line}" for line in extra]


def render_orm_split(
    targets: dict[str, Target],
    results: Results,
    failures: dict[tuple[str, str], str],
) -> list[str]:
    """The bare apps again with the SQLAlchemy ORM: how much of each gap is the ORM's."""
    out = ["", "### The ORM's share: the bare apps with SQLAlchemy", ""]
    out.append(
        "The same bare apps with every query through a SQLAlchemy ORM session per request "
        "(asyncio + asyncpg for Starlette, psycopg for Flask; the generated services' engine "
        "settings), nothing else of the template. `bare + ORM ÷ bare` is what the ORM costs "
        "by itself; `generated ÷ bare + ORM` is the rest: the framework layer (FastAPI over "
        "Starlette; flask-smorest, marshmallow, Flask-SQLAlchemy) and the template's own code. "
        "req/s (CPU ms per request); ratios of req/s, median of the per-run ratios."
    )
    out.append("")
    head = ["workload", *(TARGET_LABELS[k] for k in ORM_ORDER), *(t for t, _, _ in ORM_RATIOS)]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for number, workload in enumerate(WORKLOADS, start=1):
        row = [f"{number}. {workload.label}"]
        for key in ORM_ORDER:
            target = targets.get(key)
            cells = [c for c in results.get((workload.key, key), []) if c]
            if target is None or target.skipped:
                row.append("skipped")
            elif (workload.key, key) in failures:
                row.append("failed")
            elif not cells:
                row.append("—")
            else:
                rps = statistics.median(c.rps for c in cells)
                cpu = statistics.median(c.cpu_ms for c in cells)
                row.append(f"{rps:.0f} ({cpu:.2f} ms)")
        for _, top, bottom in ORM_RATIOS:
            value = ratio(results, workload.key, top, bottom)
            row.append("—" if value is None else f"{value:.2f}")
        out.append("| " + " | ".join(row) + " |")
    return out


TELEMETRY_BUDGET = 0.95  # metrics on must keep at least this share of the req/s without them


def render_telemetry(targets: dict[str, Target], results: Results) -> list[str]:
    """Each generated service as shipped (metrics on) next to metrics off and tracing on."""
    out = ["", "### Telemetry's cost", ""]
    out.append(
        "The generated service as shipped (metrics on; traces and error reports off) next to "
        "the same service with METRICS_ENABLED=false, and with traces exported over OTLP/HTTP "
        "to a sink in the harness. req/s (CPU ms per request), medians; ratios are medians of "
        "the per-run ratios, of req/s and of requests per CPU-second."
    )
    out.append("")
    head = ["workload", "variant", "metrics on (default)", "metrics off", "tracing on"]
    head += ["on ÷ off req/s", "on ÷ off CPU", "tracing ÷ on req/s", "tracing ÷ on CPU"]
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    over = []
    for number, workload in enumerate(WORKLOADS, start=1):
        for framework in ("fastapi", "flask"):
            keys = [framework, f"{framework}-metrics-off", f"{framework}-tracing"]
            if not any(key in targets for key in keys[1:]):
                continue
            row = [f"{number}. {workload.label}", framework]
            for key in keys:
                cells = [c for c in results.get((workload.key, key), []) if c]
                if not cells:
                    row.append("—")
                    continue
                rps = statistics.median(c.rps for c in cells)
                row.append(f"{rps:.0f} ({statistics.median(c.cpu_ms for c in cells):.2f} ms)")
            for top, bottom in ((keys[0], keys[1]), (keys[2], keys[0])):
                for cpu in (False, True):
                    value = ratio(results, workload.key, top, bottom, cpu=cpu)
                    row.append("—" if value is None else f"{value:.3f}")
            on_off = ratio(results, workload.key, keys[0], keys[1])
            if number >= 2 and on_off is not None and on_off < TELEMETRY_BUDGET:
                over.append(f"{framework} on {number}. {workload.label}: {on_off:.3f}")
            out.append("| " + " | ".join(row) + " |")
    out.append("")
    if over:
        budget = f"{1 - TELEMETRY_BUDGET:.0%}"
        out.append(f"Metrics cost more than {budget} of req/s: {'; '.join(over)}.")
    else:
        out.append(
            f"Metrics on keep ≥ {TELEMETRY_BUDGET:.2f} of the req/s without them on workloads 2-4."
        )
    return out


def framework_package(targets: dict[str, Target], framework: str) -> str:
    target = targets.get(framework)
    return target.env.get("BENCH_PACKAGE", "<pkg>") if target else "<pkg>"
