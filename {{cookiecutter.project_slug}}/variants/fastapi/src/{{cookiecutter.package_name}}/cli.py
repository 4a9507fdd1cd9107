"""The service's command line: `migrate`, `serve` and `dev`."""

import argparse
import signal
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from .settings import Settings
from .telemetry import serve_metrics

APP_FACTORY = f"{__package__}.app:create_app"


def load_settings() -> Settings:
    """Read the settings, or exit with one line per invalid one."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            print(f"Invalid setting {where}: {error['msg']}", file=sys.stderr)  # noqa: T201
        raise SystemExit(2) from exc


def migrate(settings: Settings) -> None:
    """Upgrade the database to the newest migration."""
    # Imported here: `serve` never needs Alembic, and every import slows its start.
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    config_path = Path("alembic.ini")
    if not config_path.is_file():
        raise SystemExit("alembic.ini not found: run this command from the project's root folder.")
    config = Config(config_path)
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def serve(settings: Settings) -> None:
    """Run the production server: HOST, PORT and WEB_CONCURRENCY come from the environment."""
    # uvicorn finishes in-flight requests on SIGTERM, then re-raises the signal; a stop
    # that drained cleanly should exit 0 for Docker, Kubernetes and systemd.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
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
        )


def dev(settings: Settings) -> None:
    """Apply migrations, then serve on 127.0.0.1:8000 and reload when the code changes."""
    migrate(settings)
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


COMMANDS = {"migrate": migrate, "serve": serve, "dev": dev}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=Path(sys.argv[0]).name, description=__doc__)
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, run in COMMANDS.items():
        subcommands.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
    args = parser.parse_args(argv)
    COMMANDS[args.command](load_settings())
