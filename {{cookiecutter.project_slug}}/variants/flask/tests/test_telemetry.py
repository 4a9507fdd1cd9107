import subprocess
import sys

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from {{ cookiecutter.package_name }}.settings import Settings, SettingsError

from .conftest import MakeApp


def requests_counted(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_requests_are_counted_by_route_template(make_app: MakeApp) -> None:
    app = make_app()

    @app.get("/api/v1/things/<int:thing_id>")
    def read_thing(thing_id: int) -> str:
        return str(thing_id)

    client = app.test_client()
    before = requests_counted("GET", "/api/v1/things/{thing_id}", "200")
    for thing_id in (1, 2, 3):
        assert client.get(f"/api/v1/things/{thing_id}").status_code == 200
    assert requests_counted("GET", "/api/v1/things/{thing_id}", "200") == before + 3
    assert requests_counted("GET", "/api/v1/things/1", "200") == 0


def test_unknown_paths_share_one_label(client: FlaskClient) -> None:
    before = requests_counted("GET", "unmatched", "404")
    assert client.get("/no/such/path/42").status_code == 404
    assert requests_counted("GET", "unmatched", "404") == before + 1


def test_unknown_methods_share_one_label(client: FlaskClient) -> None:
    before = requests_counted("_OTHER", "unmatched", "404")
    assert client.open("/no/such/path", method="BREW").status_code == 404
    assert requests_counted("_OTHER", "unmatched", "404") == before + 1
    assert requests_counted("BREW", "unmatched", "404") == 0


TELEMETRY_MODULES = (
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "sentry_sdk",
    "prometheus_client",
)
CREATE_APP_AND_LIST_THEM = """
import sys
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings
create_app(Settings.from_env(_env_file=None))
print(" ".join(name for name in sys.argv[1:] if name in sys.modules))
"""


def imported_after_create_app(**env: str) -> set[str]:
    """The telemetry libraries a fresh process has imported once it has created the app."""
    result = subprocess.run(  # noqa: S603 - this interpreter, this script
        [sys.executable, "-c", CREATE_APP_AND_LIST_THEM, *TELEMETRY_MODULES],
        env={"PATH": "", "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(result.stdout.split())


def test_telemetry_that_is_off_is_never_imported() -> None:
    assert imported_after_create_app(METRICS_ENABLED="false") == set()


def test_each_part_turns_on_with_its_variable() -> None:
    imported = imported_after_create_app(
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", SENTRY_DSN="http://key@127.0.0.1:9/1"
    )
    assert imported == set(TELEMETRY_MODULES)


def test_metrics_need_a_port_of_their_own() -> None:
    with pytest.raises(SettingsError, match="METRICS_PORT"):
        Settings.from_env(_env_file=None, port=8000, metrics_port=8000)
    assert Settings(_env_file=None, port=8000, metrics_port=8000, metrics_enabled=False)


def test_otlp_endpoint_must_be_http() -> None:
    with pytest.raises(SettingsError, match="OTLP"):
        Settings.from_env(_env_file=None, otel_exporter_otlp_endpoint="grpc://collector:4317")
