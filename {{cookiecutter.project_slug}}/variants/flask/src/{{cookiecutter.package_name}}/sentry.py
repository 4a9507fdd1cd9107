"""Error reports to Sentry: unhandled exceptions with the request id and the route template,
never a request body, a cookie, an Authorization header, a password or a token.

Imported only when SENTRY_DSN is set (telemetry.py).
"""

import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.scrubber import EventScrubber
from sentry_sdk.types import Event, Hint

from . import VERSION
from .logs import request_id_var
from .settings import Settings


def init_sentry(settings: Settings) -> None:
    assert settings.sentry_dsn is not None  # noqa: S101 - telemetry.py calls this only then
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=VERSION,
        # No cookies, client addresses or user data, no request bodies, no local variables
        # (a login handler's locals hold the password); scrub secret-named keys everywhere.
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        event_scrubber=EventScrubber(recursive=True),
        before_send=add_request_id,
        # Events name the route (/api/v1/tasks/<int:task_id>), not the path asked for.
        integrations=[FlaskIntegration(transaction_style="url")],
    )


def add_request_id(event: Event, _hint: Hint) -> Event:
    """Tag the event with the id of the request that raised it, as the log lines have it."""
    event.setdefault("tags", {})["request_id"] = request_id_var.get()
    return event
