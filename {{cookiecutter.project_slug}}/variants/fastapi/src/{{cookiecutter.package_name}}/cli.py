"""The service's command line: `migrate`, `serve` and `dev`."""

import argparse
import asyncio
import errno
import logging
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from . import COMMAND
from .logs import configure_logging
from .server import (
    KEEP_ALIVE_TIMEOUT,
    MAX_CONNECTIONS,
    WORKER_HEALTHCHECK_TIMEOUT,
    LimitedHttpProtocol,
)
from .settings import Settings
from .telemetry import serve_metrics

APP_FACTORY = f"{__package__}.app:create_app"

logger = logging.getLogger(__name__)


def load_settings() -> Settings:
    """Read the settings, or exit with one line per invalid one."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"Invalid setting {where}: {error['msg']}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from exc


def migrate(settings: Settings, *, create_database: bool = False) -> None:
    """Upgrade the database to the newest migration."""
    # Imported here: `serve` never needs Alembic, and every import slows its start.
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from . import db  # noqa: PLC0415

    config_path = Path("alembic.ini")
    if not config_path.is_file():
        raise SystemExit("alembic.ini not found: run this command from the project's root folder.")
    if create_database and asyncio.run(db.create_database(settings.database_url)):
        print("Created the database named in DATABASE_URL.")  # noqa: T201
    config = Config(config_path)
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    try:
        command.upgrade(config, "head")
    except DBAPIError:
        if asyncio.run(db.database_is_missing(settings.database_url)):
            raise SystemExit(db.missing_database_sentence(settings.database_url, COMMAND)) from None
        raise


def listen_or_exit(host: str, port: int) -> None:
    """Exit with one sentence when another program already listens on host:port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the server will: a port a previous run left in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise SystemExit(
                f"Port {port} on {host} is already in use by another program: stop it, "
                f"or choose another port (e.g. PORT={port + 1})."
            ) from None


def announce(settings: Settings, host: str) -> None:
    """Log where the service listens, and its docs, before the server starts."""
    configure_logging(level=settings.log_level, json_lines=settings.json_logs)
    url = f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"
    docs = f" - API docs at {url}/docs" if settings.docs_enabled else ""
    logger.info("Serving on %s%s", url, docs)


def serve(settings: Settings) -> None:
    """Run the production server: HOST, PORT and WEB_CONCURRENCY come from the environment."""
    # uvicorn finishes in-flight requests on SIGTERM, then re-raises the signal; a stop
    # that drained cleanly should exit 0 for Docker, Kubernetes and systemd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listen_or_exit(settings.host, settings.port)
    announce(settings, settings.host)
    with serve_metrics(settings):
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.web_concurrency,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            server_header=False,
            timeout_graceful_shutdown=settings.graceful_timeout,
            # Bounds on request heads, connections and idle time (server.py).
            http=LimitedHttpProtocol,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
            # uvicorn kills a worker that misses a ping for 5 s by default; a busy host
            # importing two workers at once can take longer, and then restarts loop.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_TIMEOUT,
        )


def dev(settings: Settings) -> None:
    """Apply migrations (creating the database if needed), then serve on 127.0.0.1:PORT and
    reload when the code changes."""
    listen_or_exit("127.0.0.1", settings.port)
    migrate(settings, create_database=True)
    announce(settings, "127.0.0.1")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host="127.0.0.1",
        port=settings.port,
        reload=True,
        reload_dirs=[str(Path(__file__).parent)],
        log_config=None,
        access_log=False,
    )


COMMANDS: dict[str, Callable[..., None]] = {"migrate": migrate, "serve": serve, "dev": dev}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=Path(sys.argv[0]).name, description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    commands = {
        name: subcommands.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
        for name, run in COMMANDS.items()
    }
    commands["migrate"].add_argument(
        "--create-database",
        action="store_true",
        help="first create the PostgreSQL database named in DATABASE_URL if it does not exist",
    )
    # Every option but the command's name is a keyword argument of the command.
    options = vars(parser.parse_args(argv))
    COMMANDS[options.pop("command")](load_settings(), **options)
