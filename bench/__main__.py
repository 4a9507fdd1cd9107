"""Benchmark the generated services against bare baselines, with wrk, on this machine.

    uv run python -m bench                  # 3 runs of 10 s cells (median), ~20 minutes
    uv run python -m bench --smoke          # 1 s cells, 1 run: checks the harness works

Bakes every framework the template offers, starts each generated service with its own
production commands (`<slug> migrate`, `<slug> serve`) on 127.0.0.1 against a fresh
PostgreSQL database, starts the bare baselines (bench/baselines) on the same databases with
the same worker count, seeds two users and ~100 tasks through the generated API, and loads
every workload on every server with wrk. Writes one markdown report (req/s, p50/p99
latency, CPU per request, ratios, cold start, import time) to bench/results/<date>.md and
prints it. A variant that can't be baked, synced, migrated or started is skipped with the
reason, and the report says so.

The modules, one job each: targets (what is measured), servers (bake, sync, migrate, start,
stop; through tests/harness.py), load (seed, check, wrk, cold start), profiles (py-spy),
report (the markdown).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from tests.harness import FRAMEWORKS, Project, free_port

from .load import cold_starts, compare_task_json, ensure_wrk, measure_runs, seed
from .profiles import profile
from .report import Measured, machine_facts, render
from .servers import (
    bake,
    bare_targets,
    create_database,
    drop_database,
    generated_target,
    gunicorn_settings,
    migrate,
    service_env,
    start_all,
    start_otlp_sink,
    sync_baselines,
    telemetry_targets,
)
from .targets import (
    ALL_TARGETS,
    BARE_APPS,
    DEFAULT_TARGETS,
    EXIT_NO_WRK,
    RESULTS,
    TARGET_LABELS,
    TELEMETRY_RUN,
    TELEMETRY_TARGETS,
    WORKLOADS,
    Database,
    Target,
    say,
)

DESCRIPTION = __doc__.split("\n\n")[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--runs", type=int, default=3, help="runs per cell; the median is shown")
    parser.add_argument("--duration", type=int, default=10, help="seconds per cell (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds before each cell")
    parser.add_argument("--connections", type=int, default=10, help="wrk connections (-c)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (-t)")
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
        help="server workers for every target (WEB_CONCURRENCY, default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--pool-size", type=int, default=5,
        help="database connections each server worker keeps (DATABASE_POOL_SIZE, default 5): "
        "six servers must fit in PostgreSQL's max_connections",
    )  # fmt: skip
    parser.add_argument("--cold-starts", type=int, default=3, help="cold-start samples per variant")
    parser.add_argument(
        "--targets", default=",".join(DEFAULT_TARGETS),
        help="comma-separated servers to load, of: " + ", ".join(ALL_TARGETS)
        + " (a variant's generated service comes along with its other rows: it seeds them)",
    )  # fmt: skip
    parser.add_argument(
        "--telemetry", action="store_true",
        help="what metrics and traces cost: --targets " + ",".join(TELEMETRY_RUN),
    )  # fmt: skip
    parser.add_argument(
        "--workloads", default=",".join(w.key for w in WORKLOADS),
        help="comma-separated subset of: " + ", ".join(w.key for w in WORKLOADS),
    )  # fmt: skip
    parser.add_argument(
        "--smoke", action="store_true",
        help="check the harness end to end: 1 s cells, 1 run, no warm-up, 1 cold start",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, help="report path (default bench/results/<date>.md)")
    parser.add_argument("--workdir", type=Path, help="where to bake (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the bakes and the databases")
    parser.add_argument(
        "--profile", action="store_true",
        help="after the runs, profile every server on workloads 2-4 with py-spy (to the report)",
    )  # fmt: skip
    parser.add_argument("--profile-seconds", type=int, default=8, help="py-spy seconds per cell")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.smoke:
        args.runs, args.duration, args.warmup, args.cold_starts = 1, 1, 0, 1
    counts = [args.runs, args.duration, args.workers, args.connections, args.threads]
    counts.append(args.pool_size)
    if min(counts) < 1:
        parser.error(
            "--runs, --duration, --workers, --connections, --threads and --pool-size must be ≥ 1"
        )
    known = {w.key for w in WORKLOADS}
    chosen = [key.strip() for key in args.workloads.split(",") if key.strip()]
    if not chosen or not set(chosen) <= known:
        parser.error(f"--workloads takes a comma-separated subset of {', '.join(sorted(known))}")
    args.workload_keys = chosen
    targets = (
        TELEMETRY_RUN
        if args.telemetry
        else [key.strip() for key in args.targets.split(",") if key.strip()]
    )
    if not targets or not set(targets) <= set(ALL_TARGETS):
        parser.error(f"--targets takes a comma-separated subset of {', '.join(ALL_TARGETS)}")
    twins = {
        framework
        for key in targets
        for framework, _ in [BARE_APPS.get(key) or TELEMETRY_TARGETS.get(key) or (key, None)]
    }
    args.target_keys = [key for key in ALL_TARGETS if key in targets or key in twins]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = datetime.now().astimezone()
    if ensure_wrk() is None:
        print("bench: wrk is not available, so nothing was measured.", file=sys.stderr)
        return EXIT_NO_WRK
    with contextlib.ExitStack() as cleanup:
        if args.workdir:
            workdir = args.workdir.resolve()
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(tempfile.mkdtemp(prefix="bench-"))
            if not args.keep:
                cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        return measure(args, workdir, started, cleanup)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(
    args: argparse.Namespace, workdir: Path, started: datetime, cleanup: contextlib.ExitStack
) -> int:
    """Bake, start, seed, load, time the start-ups, and write the report."""
    load_start = load_average()
    projects, skipped = bake_all(args, workdir)
    say("syncing bench/baselines")
    sync_baselines()
    databases = create_databases(projects, args, cleanup)
    if not databases:
        say("no variant could be baked and synced; nothing to measure")
        return 1
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    targets, notes = build_targets(args, projects, skipped, databases, logs, cleanup)
    for target in targets.values():
        cleanup.callback(target.stop)
    migrate(projects, targets)
    start_all(targets)
    running = seed_all(projects, targets)
    notes += compare_task_json(running)
    results, failures = measure_runs(args, running, list(databases.values()), logs / "wrk.log")
    measured = Measured(targets, results, failures, notes=notes)
    if args.profile:
        measured.profiles = profile_all(args, running, projects, measured, started)
    for target in running:
        target.stop()
    measured.cold, measured.imports = cold_starts(targets, projects, args, notes)
    facts = machine_facts(projects)
    report = render(args, facts, measured, started, (load_start, load_average()))
    output = args.output or (
        RESULTS / "tmp" / f"smoke-{started:%Y-%m-%d}.md"
        if args.smoke
        else RESULTS / f"{started:%Y-%m-%d}.md"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")
    print(report)
    say(f"report written to {output}")
    return 0


def bake_all(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Project], dict[str, str]]:
    """Each framework asked for, baked and synced; or the reason it was skipped."""
    frameworks = [framework for framework in FRAMEWORKS if framework in args.target_keys]
    say(f"baking {', '.join(frameworks)} into {workdir}")
    projects: dict[str, Project] = {}
    skipped: dict[str, str] = {}
    for framework in frameworks:
        baked = bake(framework, workdir)
        if isinstance(baked, Project):
            projects[framework] = baked
        else:
            skipped[framework] = baked
            say(f"SKIPPING the {framework} variant: {baked}")
    return projects, skipped


def create_databases(
    projects: dict[str, Project], args: argparse.Namespace, cleanup: contextlib.ExitStack
) -> dict[str, Database]:
    databases = {}
    for framework in projects:
        databases[framework] = create_database(framework)
        if not args.keep:
            cleanup.callback(drop_database, databases[framework])
    return databases


def build_targets(
    args: argparse.Namespace,
    projects: dict[str, Project],
    skipped: dict[str, str],
    databases: dict[str, Database],
    logs: Path,
    cleanup: contextlib.ExitStack,
) -> tuple[dict[str, Target], list[str]]:
    """Every row of the report, generated first; and a note on how Flask servers run."""
    secret = secrets.token_urlsafe(36)  # 48 characters
    targets = {
        framework: generated_target(project, databases[framework], secret, args, logs)
        for framework, project in projects.items()
    }
    for framework, why in skipped.items():
        targets[framework] = Target(framework, TARGET_LABELS[framework], framework, skipped=why)
    first = next(iter(databases.values()))
    flask_env = service_env(first, secret, free_port(), args.workers, args.pool_size)
    gunicorn, source = gunicorn_settings(projects.get("flask"), flask_env)
    targets |= bare_targets(databases, secret, gunicorn, args, logs)
    targets |= telemetry_targets(targets, start_otlp_sink(cleanup), args, logs)
    notes = [
        f"Flask servers: gunicorn {gunicorn['worker_class']}, {args.workers} workers x "
        f"{gunicorn['threads']} threads, keep-alive {gunicorn['keepalive']} s (from {source})."
    ]
    return targets, notes


def seed_all(projects: dict[str, Project], targets: dict[str, Target]) -> list[Target]:
    """Seed each database through its generated service; the servers that can be loaded."""
    for framework in projects:
        target = targets[framework]
        if target.skipped is None and target.database is not None:
            say(f"seeding {target.database.name} through the {framework} service's API")
            target.database.seed = seed(target.url)
    for key in [*BARE_APPS, *TELEMETRY_TARGETS]:
        target = targets.get(key)
        if target is None:
            continue
        if not target.skipped and (target.database is None or target.database.seed is None):
            target.skipped = "its database could not be seeded (its generated twin did not start)"
            target.stop()
    return [targets[k] for k in ALL_TARGETS if k in targets and not targets[k].skipped]


def profile_all(
    args: argparse.Namespace,
    running: list[Target],
    projects: dict[str, Project],
    measured: Measured,
    started: datetime,
) -> dict[tuple[str, str], list[str]]:
    """py-spy on every server for workloads 2-4; the raw stacks are kept for flame graphs."""
    raw_dir = RESULTS / "tmp" / f"profiles-{started:%Y-%m-%d-%H%M}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    profiles = {}
    for workload in WORKLOADS:
        if workload.key == "health" or workload.key not in args.workload_keys:
            continue
        for target in running:
            if (workload.key, target.key) in measured.failures:
                continue
            say(f"profiling {target.label} on {workload.label}")
            package = projects[target.key].package if target.key in projects else None
            raw = raw_dir / f"{target.key}-{workload.key}.txt"
            profiles[(workload.key, target.key)] = profile(
                target, workload, args.profile_seconds, args, raw, package
            )
    measured.notes.append(f"py-spy raw stacks (flamegraph.pl input): {raw_dir}")
    return profiles


if __name__ == "__main__":
    sys.exit(main())
