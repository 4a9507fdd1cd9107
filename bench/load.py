"""Load the servers: seed their data through the API, check them, drive wrk, time start-ups."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psycopg

from tests.harness import Project, ServerDown, run, tail

from .targets import (
    PASSWORD,
    SEED_TASKS,
    WORKLOADS,
    WRK_SCRIPT,
    Database,
    Seed,
    Target,
    Workload,
    say,
)


def ensure_wrk() -> str | None:
    """The path of wrk, installed with apt-get when missing; None when that is impossible."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        say("wrk is not installed and there is no apt-get here to install it")
        return None
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        say("wrk is not installed; install it as root with: apt-get install -y wrk")
        return None
    say("wrk is not installed: installing it with `apt-get install -y wrk`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in ([], ["update"]):
        if attempt:
            say("apt-get install failed; running `apt-get update` and trying again")
            subprocess.run([*prefix, apt, "update", "-qq"], env=env, check=False)
        subprocess.run(
            [*prefix, apt, "install", "-y", "-qq", "wrk"],
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        if found := shutil.which("wrk"):
            return found
    say("could not install wrk with apt-get")
    return None


def analyze(database: Database) -> None:
    """Fresh planner statistics, so the write workload's rows never change a read's plan."""
    with psycopg.connect(database.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("ANALYZE users")
        conn.execute("ANALYZE tasks")


def seed(base_url: str) -> Seed:
    """Through the generated service's own API: two users, their tokens, the reader's tasks."""
    tokens = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for role in ("reader", "writer"):
            email = f"{role}@bench.example.com"
            registered = client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            )
            registered.raise_for_status()
            token = client.post(
                "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
            )
            token.raise_for_status()
            tokens[role] = token.json()["access_token"]
        reader = {"Authorization": f"Bearer {tokens['reader']}"}
        ids = []
        for number in range(1, SEED_TASKS + 1):
            created = client.post(
                "/api/v1/tasks",
                headers=reader,
                json={
                    "title": f"Seeded task {number}",
                    "description": f"Task number {number}, seeded before the run." * 3,
                    "priority": ["low", "normal", "high"][number % 3],
                    "done": number % 4 == 0,
                },
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
    return Seed(tokens=tokens, task_id=ids[len(ids) // 2])


def request_for(workload: Workload, seed: Seed) -> tuple[str, dict[str, str]]:
    headers = {"Content-Type": "application/json"} if workload.body else {}
    if workload.token:
        headers["Authorization"] = f"Bearer {seed.tokens[workload.token]}"
    return workload.path.format(task_id=seed.task_id), headers


def probe(target: Target, workload: Workload) -> str | None:
    """None when one request of the workload answers as it should; else what went wrong."""
    assert target.database
    assert target.database.seed
    path, headers = request_for(workload, target.database.seed)
    response = httpx.request(
        workload.method, target.url + path, headers=headers, content=workload.body, timeout=10
    )
    if response.status_code != workload.expect:
        return f"answered {response.status_code}, not {workload.expect}: {response.text[:120]}"
    return None


def compare_task_json(targets: list[Target]) -> list[str]:
    """Generated and bare must answer the same task with the same fields and values."""
    notes = []
    by_db: dict[str, list[Target]] = {}
    for target in targets:
        if target.skipped is None and target.database is not None:
            by_db.setdefault(target.database.name, []).append(target)
    for group in by_db.values():
        answers = {}
        for target in group:
            assert target.database
            assert target.database.seed
            path, headers = request_for(WORKLOADS[1], target.database.seed)
            body = httpx.get(target.url + path, headers=headers, timeout=10).json()
            answers[target.label] = {
                key: datetime.fromisoformat(value.replace("Z", "+00:00"))
                if key.endswith("_at")
                else value
                for key, value in body.items()
            }
        first_label, first = next(iter(answers.items()))
        for label, answer in answers.items():
            if answer != first:
                notes.append(
                    f"{label} answers GET /api/v1/tasks/{{id}} differently from {first_label}: "
                    f"{sorted(answer.items())} vs {sorted(first.items())}"
                )
    return notes


# --- load ---------------------------------------------------------------------------------


@dataclass
class Cell:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms: float  # the server's CPU time (all its processes) per request


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of the live processes in a process group (a server and workers)."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    target: Target, workload: Workload, seconds: int, args: argparse.Namespace, log: Path
) -> Cell:
    assert target.database
    assert target.database.seed
    path, _ = request_for(workload, target.database.seed)
    env = {**os.environ, "BENCH_METHOD": workload.method, "BENCH_BODY": workload.body or ""}
    env["BENCH_TOKEN"] = target.database.seed.tokens[workload.token] if workload.token else ""
    command = [
        "wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency",
        "--timeout", "5s", "-s", str(WRK_SCRIPT), target.url + path,
    ]  # fmt: skip
    assert target.process is not None
    cpu_before = group_cpu_seconds(target.process.pid)
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    cpu = group_cpu_seconds(target.process.pid) - cpu_before
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}  # {target.label}\n{result.stdout}{result.stderr}\n")
    line = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.M)
    if result.returncode != 0 or line is None:
        why = tail(result.stderr or result.stdout)
        raise RuntimeError(f"wrk failed ({result.returncode}): {why}")
    data = json.loads(line[1])
    errors = sum(value for key, value in data.items() if key.startswith("errors_"))
    return Cell(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        cpu_ms=1000 * cpu / max(data["requests"], 1),
    )


def import_times(project: Project, repeat: int = 2) -> tuple[float, list[tuple[str, int, int]]]:
    """`python -X importtime -c "import <pkg>.app"`: total ms, and (module, self, cumulative) µs."""
    python = project.command("python")
    module = f"{project.package}.app"
    result = None
    for _ in range(repeat):  # the first run may still be writing bytecode caches
        result = run([python, "-X", "importtime", "-c", f"import {module}"], cwd=project.path)
    assert result is not None
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$", line)
        if match:
            rows.append((match[4], int(match[1]), int(match[2])))
    total = next((cumulative for name, _, cumulative in rows if name == module), 0)
    return total / 1000, rows


Results = dict[tuple[str, str], list["Cell | None"]]


def measure_runs(
    args: argparse.Namespace,
    running: list[Target],
    databases: list[Database],
    log: Path,
) -> tuple[Results, dict[tuple[str, str], str]]:
    """Every workload on every server, `args.runs` times; the order of servers rotates per run."""
    workloads = [w for w in WORKLOADS if w.key in args.workload_keys]
    results: Results = {}
    failures: dict[tuple[str, str], str] = {}
    for run_number in range(args.runs):
        say(f"run {run_number + 1} of {args.runs}")
        order = running[run_number % len(running) :] + running[: run_number % len(running)]
        for workload in workloads:
            for database in databases:
                analyze(database)
            for target in order:
                if (workload.key, target.key) in failures:
                    continue
                if problem := probe(target, workload):
                    failures[(workload.key, target.key)] = problem
                    say(f"{target.label} fails {workload.label}: {problem}")
                    continue
                cell = measure_cell(target, workload, args, log)
                results.setdefault((workload.key, target.key), []).append(cell)
    return results, failures


def measure_cell(target: Target, workload: Workload, args: argparse.Namespace, log: Path) -> Cell:
    """A warm-up (when asked for), then the measured cell."""
    if args.warmup:
        wrk(target, workload, args.warmup, args, log)
    cell = wrk(target, workload, args.duration, args, log)
    say(
        f"  {workload.label:32} {target.label:22} {cell.rps:8.0f} req/s  "
        f"p50 {cell.p50_ms:6.2f} ms  p99 {cell.p99_ms:6.2f} ms"
        + (f"  {cell.errors} errors" if cell.errors else "")
    )
    return cell


def cold_starts(
    targets: dict[str, Target],
    projects: dict[str, Project],
    args: argparse.Namespace,
    notes: list[str],
) -> tuple[dict[str, list[float]], dict[str, tuple[float, list[tuple[str, int, int]]]]]:
    """Spawn-to-first-200 of each generated service, and its import time."""
    cold: dict[str, list[float]] = {}
    imports: dict[str, tuple[float, list[tuple[str, int, int]]]] = {}
    for framework, project in projects.items():
        target = targets[framework]
        if target.skipped or target.server is None:
            continue
        say(f"cold start and import time of the {framework} service")
        cold[framework] = []
        for _ in range(args.cold_starts):
            try:
                cold[framework].append(target.server.start())
            except ServerDown as exc:
                notes.append(f"{target.label} cold start failed: {exc.summary}")
                break
            finally:
                target.stop()
        imports[framework] = import_times(project, repeat=1 if args.smoke else 2)
    return cold, imports
