"""The service's command line: `migrate`, `serve` and `dev`."""

import argparse
import errno
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import flask_migrate
from flask import Flask
from gunicorn.app.base import Application
from sqlalchemy.exc import DBAPIError
from werkzeug.serving import WSGIRequestHandler

from . import COMMAND, db
from .app import create_app
from .health import log_schema_state
from .settings import Settings, SettingsError
from .telemetry import serve_metrics

MIGRATIONS = Path("migrations")
GUNICORN_CONFIG = Path("gunicorn.conf.py")

logger = logging.getLogger(__name__)


def load_settings() -> Settings:
    """Read the settings, or exit with one line per invalid one."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        for problem in str(exc).splitlines():
            print(f"Invalid setting: {problem}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from exc


def migrate(settings: Settings, *, create_database: bool = False) -> None:
    """Upgrade the database to the newest migration."""
    if not MIGRATIONS.is_dir():
        raise SystemExit("migrations/ not found: run this command from the project's root folder.")
    if create_database and db.create_database(settings.database_url):
        print("Created the database named in DATABASE_URL.")  # noqa: T201
    app = create_app(settings)
    try:
        with app.app_context():
            flask_migrate.upgrade(directory=str(MIGRATIONS))
    except DBAPIError:
        if db.database_is_missing(settings.database_url):
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
    url = f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"
    docs = f" - API docs at {url}/docs" if settings.docs_enabled else ""
    logger.info("Serving on %s%s", url, docs)


class GunicornServer(Application):
    """gunicorn, run in this process (its master), configured by gunicorn.conf.py."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.load_config_from_file(str(GUNICORN_CONFIG))

    def load(self) -> Flask:  # type: ignore[override]  # the stubs' WSGI type is too narrow
        # Runs in each worker after the fork, so the database pool is the worker's own.
        app = create_app(self.settings)
        log_schema_state(app)
        return app


def serve(settings: Settings) -> None:
    """Run the production server: gunicorn, configured by gunicorn.conf.py from the environment."""
    if not GUNICORN_CONFIG.is_file():
        raise SystemExit("gunicorn.conf.py not found: run this command from the project's root.")
    listen_or_exit(settings.host, settings.port)
    with serve_metrics(settings):
        server = GunicornServer(settings)  # reads gunicorn.conf.py, which sets up logging
        announce(settings, settings.host)
        server.run()


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The app logs every request itself, with its request id."""


def dev(settings: Settings) -> None:
    """Apply migrations (creating the database if needed), then serve on 127.0.0.1:PORT and
    reload when the code changes."""
    # The reloader runs this command again in a child process that inherits the listening
    # socket: check the port, migrate and announce in the parent only.
    reloaded = os.environ.get("WERKZEUG_RUN_MAIN") == "true"
    if not reloaded:
        listen_or_exit("127.0.0.1", settings.port)
        migrate(settings, create_database=True)
    app = create_app(settings)  # sets up logging too
    if not reloaded:
        announce(settings, "127.0.0.1")
    app.run(
        host="127.0.0.1",
        port=settings.port,
        use_reloader=True,
        use_debugger=False,
        request_handler=QuietRequestHandler,
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
