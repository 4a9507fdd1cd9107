"""gunicorn's settings, read by `uv run {{ cookiecutter.project_slug }} serve` (and `gunicorn -c gunicorn.conf.py`).

Every value comes from the environment (and .env), like the app's own settings.
"""

import os
from pathlib import Path

from gunicorn.http.message import Request
from gunicorn.workers.base import Worker

from {{ cookiecutter.package_name }}.logs import GunicornLogger, configure_logging
from {{ cookiecutter.package_name }}.settings import Settings

settings = Settings.from_env()
configure_logging(level=settings.log_level, json_lines=settings.json_logs)

wsgi_app = "{{ cookiecutter.package_name }}.app:create_app()"
host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6 in brackets
bind = [f"{host}:{settings.port}"]

# One worker per container on Kubernetes (scale with replicas); raise WEB_CONCURRENCY on a
# single host. Never derived from the CPU count, which a container does not own.
workers = settings.web_concurrency
# Threads suit an I/O-bound API: each worker serves THREADS requests at once, and the
# database pool is sized to match (db.engine_options). The worker is gthread reading request
# heads in its event loop, so slow clients can't hold the threads (server.py).
worker_class = "{{ cookiecutter.package_name }}.server.SlowClientSafeWorker"
threads = settings.threads
# A connection waiting for its head costs a file descriptor, not a thread: allow many.
worker_connections = 4096
graceful_timeout = settings.graceful_timeout
# The workers' heartbeat files go to memory, not to a disk that may stall (or be read-only).
shared_memory = Path("/dev/shm")  # noqa: S108 - gunicorn's advice for its heartbeat files
worker_tmp_dir = str(shared_memory) if shared_memory.is_dir() else None
# No control socket (gunicornc): it would be one path in $HOME, read-only in the container
# and shared by every gunicorn on a host.
control_socket_disable = True

# gunicorn's messages go through the app's handler (console or JSON lines); the app writes
# one access line per request itself, with its request id.
logger_class = GunicornLogger
loglevel = settings.log_level.lower()
accesslog = None


def pre_request(_worker: object, req: Request) -> None:
    """Close the connection after a body too large to read: its bytes would stay in the way."""
    declared = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "")
    if declared.isdigit() and int(declared) > settings.max_body_size:
        req.force_close()


def child_exit(_server: object, worker: Worker) -> None:
    """Drop a dead worker's share of the live gauges (requests in flight, pool in use)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess  # noqa: PLC0415 - after serve set the dir

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
