"""Bake, sync, migrate and start every server the benchmark loads; stop them after."""

from __future__ import annotations

import argparse
import contextlib
import http.server
import re
import threading
from pathlib import Path

from tests import harness
from tests.harness import Project, Server, free_port, run, tail

from .targets import (
    BARE_APPS,
    BASELINES,
    POSTGRES_URL,
    TARGET_LABELS,
    TELEMETRY_TARGETS,
    Database,
    Target,
    say,
)


def bake(framework: str, workdir: Path) -> Project | str:
    """Bake and sync one variant; a Project, or the sentence saying why it can't run."""
    output = workdir / framework
    output.mkdir(parents=True, exist_ok=True)
    try:
        project = harness.bake(output, overwrite=True, framework=framework)
    except Exception as exc:  # any bake failure means: skip this variant, say why
        return f"the template does not bake with framework={framework}: {exc}".strip()
    package = project.package
    missing = [
        name
        for name in ("uv.lock", f"src/{package}/app.py", f"src/{package}/cli.py")
        if not (project.path / name).is_file()
    ]
    if missing:
        return f"the variant is not complete yet (no {', '.join(missing)})"
    synced = harness.sync(project, production=True)  # as the Dockerfile installs it
    if synced.returncode != 0:
        return f"`uv sync --locked` failed: {tail(synced.stderr)}"
    if not Path(project.command()).is_file():
        return f"the project installs no `{project.slug}` command"
    return project


def sync_baselines() -> None:
    synced = run(["uv", "sync", "--locked", "--compile-bytecode"], cwd=BASELINES, timeout=600)
    if synced.returncode != 0:
        raise SystemExit(f"bench: syncing bench/baselines failed: {tail(synced.stderr)}")


def create_database(label: str) -> Database:
    return Database(*harness.create_database(POSTGRES_URL, f"bench_{label}"))


def drop_database(database: Database) -> None:
    harness.drop_database(POSTGRES_URL, database.name)


def service_env(
    database: Database, secret: str, port: int, workers: int, pool_size: int
) -> dict[str, str]:
    return harness.clean_env(
        DATABASE_POOL_SIZE=str(pool_size),
        DATABASE_URL=database.url,
        ENVIRONMENT="production",
        SECRET_KEY=secret,
        HOST="127.0.0.1",
        PORT=str(port),
        WEB_CONCURRENCY=str(workers),
        LOG_LEVEL="WARNING",
        ACCESS_TOKEN_EXPIRE_MINUTES="720",  # the seeded tokens must outlive the whole run
    )


def gunicorn_settings(project: Project | None, env: dict[str, str]) -> tuple[dict[str, str], str]:
    """worker_class, threads and keepalive of the generated Flask service, and their source."""
    defaults = {"worker_class": "gthread", "threads": env.get("THREADS", "4"), "keepalive": "2"}
    if project is None or not (project.path / "gunicorn.conf.py").is_file():
        return defaults, "the Flask variant's defaults (no gunicorn.conf.py to read)"
    printed = run(
        [project.command("gunicorn"), "-c", "gunicorn.conf.py", "--print-config"],
        cwd=project.path,
        env=env,
        timeout=60,
    )
    found = dict(re.findall(r"^(\w+)\s+= (.*)$", printed.stdout, re.M))
    settings = {key: found.get(key, value) for key, value in defaults.items()}
    if tmp_dir := found.get("worker_tmp_dir"):
        settings["worker_tmp_dir"] = tmp_dir
    if printed.returncode != 0 or "worker_class" not in found:
        return defaults, f"defaults: gunicorn --print-config failed ({tail(printed.stderr, 2)})"
    source = "the generated project's gunicorn.conf.py"
    own = settings["worker_class"]
    if "." in own and not own.startswith("gunicorn."):
        # The service's own worker class lives in its package, which the bare apps don't have.
        settings["worker_class"] = "gthread"
        source += f"; the bare apps run the gthread worker that {own} extends"
    return settings, source


def generated_target(
    project: Project, database: Database, secret: str, args: argparse.Namespace, logs: Path
) -> Target:
    """The generated service as production starts it: `<slug> serve`."""
    port = free_port()
    env = service_env(database, secret, port, args.workers, args.pool_size)
    env["BENCH_PACKAGE"] = project.package  # not read by the service; names it in the report
    env["METRICS_PORT"] = str(free_port())  # the metrics listener's own port
    framework = project.framework
    server = Server(
        [project.command(), "serve"], project.path, env, logs / f"{framework}.log", port
    )
    return Target(framework, TARGET_LABELS[framework], framework, server, database)


def bare_command(
    framework: str, module: str, port: int, workers: int, gunicorn: dict[str, str]
) -> list[str]:
    """uvicorn for the Starlette apps, gunicorn set up like the generated Flask service's."""
    bin_dir = BASELINES / ".venv" / "bin"
    if framework == "fastapi":
        return [
            str(bin_dir / "uvicorn"), f"{module}:app", "--host", "127.0.0.1", "--port",
            str(port), "--workers", str(workers), "--no-access-log", "--log-level",
            "warning", "--no-server-header",
        ]  # fmt: skip
    command = [
        str(bin_dir / "gunicorn"), f"{module}:app", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--worker-class", gunicorn["worker_class"],
        "--threads", gunicorn["threads"], "--keep-alive", gunicorn["keepalive"],
        "--log-level", "warning", "--no-control-socket",
    ]  # fmt: skip
    if gunicorn.get("worker_tmp_dir") and gunicorn["worker_tmp_dir"] != "None":
        command += ["--worker-tmp-dir", gunicorn["worker_tmp_dir"]]
    return command


def bare_targets(
    databases: dict[str, Database],
    secret: str,
    gunicorn: dict[str, str],
    args: argparse.Namespace,
    logs: Path,
) -> dict[str, Target]:
    """The bare apps, on their generated twin's database (without the twin, the other one's)."""
    targets = {}
    for key, (framework, module) in BARE_APPS.items():
        if key not in args.target_keys:
            continue
        note = None
        database = databases.get(framework)
        if database is None:
            other = next(iter(databases))
            database = databases[other]
            note = f"ran on the {other} variant's database ({framework} skipped)"
        port = free_port()
        env = harness.clean_env(
            DATABASE_URL=database.url, SECRET_KEY=secret, DATABASE_POOL_SIZE=str(args.pool_size)
        )
        command = bare_command(framework, module, port, args.workers, gunicorn)
        server = Server(command, BASELINES, env, logs / f"{key}.log", port)
        targets[key] = Target(key, TARGET_LABELS[key], framework, server, database, note=note)
    return targets


def telemetry_targets(
    targets: dict[str, Target], otlp_sink: str, args: argparse.Namespace, logs: Path
) -> dict[str, Target]:
    """The generated services again with telemetry changed, on their twin's database."""
    added = {}
    for key, (framework, changes) in TELEMETRY_TARGETS.items():
        twin = targets.get(framework)
        if key not in args.target_keys or twin is None or twin.skipped or twin.server is None:
            continue
        port = free_port()
        env = twin.env | {
            name: value.format(otlp_sink=otlp_sink) for name, value in changes.items()
        }
        env |= {"PORT": str(port), "METRICS_PORT": str(free_port())}
        server = Server(twin.server.command, twin.server.cwd, env, logs / f"{key}.log", port)
        added[key] = Target(key, TARGET_LABELS[key], framework, server, twin.database)
    return added


def migrate(projects: dict[str, Project], targets: dict[str, Target]) -> None:
    """`<slug> migrate` each database; the rows that use one that failed are skipped."""
    for framework, project in projects.items():
        target = targets[framework]
        say(f"migrating the {framework} database")
        migrated = run(
            [project.command(), "migrate"], cwd=project.path, env=target.env, timeout=600
        )
        if migrated.returncode != 0:
            target.skipped = f"`{project.slug} migrate` failed: {tail(migrated.stderr)}"
            say(f"SKIPPING {target.label}: {target.skipped}")
    for key in [*BARE_APPS, *TELEMETRY_TARGETS]:
        target = targets.get(key)
        if target is None:
            continue
        twin = next(
            (t for t in targets.values() if t.database is target.database and t.key in projects),
            None,
        )
        if twin is not None and twin.skipped:
            target.skipped = f"its database could not be migrated ({twin.label} skipped)"


def start_all(targets: dict[str, Target]) -> None:
    """Every server at once (they take seconds each); the bare ones need no data to start."""
    startable = {key: t for key, t in targets.items() if not t.skipped and t.server}
    say("starting " + ", ".join(f"{t.label} on {t.url}" for t in startable.values()))
    spawned = {key: t.server.spawn() for key, t in startable.items() if t.server}
    for key, started_at in spawned.items():
        target = targets[key]
        assert target.server is not None
        try:
            target.server.wait_until_up(started_at)
        except harness.ServerDown as exc:
            target.skipped = f"did not come up: {exc.summary}"
            say(f"SKIPPING {target.label}: {target.skipped}")


def start_otlp_sink(cleanup: contextlib.ExitStack) -> str:
    """An OTLP/HTTP endpoint that takes every export and keeps nothing: for the tracing rows."""

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cleanup.callback(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}"
