"""The service's command line: `migrate`, `serve` and `dev`."""

import argparse
import os
import sys
from pathlib import Path

import flask_migrate
from flask import Flask
from gunicorn.app.base import Application
from werkzeug.serving import WSGIRequestHandler

from .app import create_app
from .settings import Settings, SettingsError
from .telemetry import serve_metrics

MIGRATIONS = Path("migrations")
GUNICORN_CONFIG = Path("gunicorn.conf.py")


def load_settings() -> Settings:
    """Read the settings, or exit with one line per invalid one."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        for problem in str(exc).splitlines():
            print(f"Invalid setting: {problem}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from exc


def migrate(settings: Settings) -> None:
    """Upgrade the database to the newest migration."""
    if not MIGRATIONS.is_dir():
        raise SystemExit("migrations/ not found: run this command from the project's root folder.")
    app = create_app(settings)
    with app.app_context():
        flask_migrate.upgrade(directory=str(MIGRATIONS))


class GunicornServer(Application):
    """gunicorn, run in this process (its master), configured by gunicorn.conf.py."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        self.load_config_from_file(str(GUNICORN_CONFIG))

    def load(self) -> Flask:  # type: ignore[override]  # the stubs' WSGI type is too narrow
        # Runs in each worker after the fork, so the database pool is the worker's own.
        return create_app(self.settings)


def serve(settings: Settings) -> None:
    """Run the production server: gunicorn, configured by gunicorn.conf.py from the environment."""
    if not GUNICORN_CONFIG.is_file():
        raise SystemExit("gunicorn.conf.py not found: run this command from the project's root.")
    with serve_metrics(settings):
        GunicornServer(settings).run()


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The app logs every request itself, with its request id."""


def dev(settings: Settings) -> None:
    """Apply migrations, then serve on 127.0.0.1:PORT and reload when the code changes."""
    # The reloader runs this command again in a child process: migrate in the parent only.
    if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        migrate(settings)
    create_app(settings).run(
        host="127.0.0.1",
        port=settings.port,
        use_reloader=True,
        use_debugger=False,
        request_handler=QuietRequestHandler,
    )


COMMANDS = {"migrate": migrate, "serve": serve, "dev": dev}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=Path(sys.argv[0]).name, description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, run in COMMANDS.items():
        subcommands.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
    args = parser.parse_args(argv)
    COMMANDS[args.command](load_settings())
