from flask.testing import FlaskClient
from openapi_spec_validator import validate

from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.settings import Settings


def test_health_is_ok(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_ready_is_503_when_the_database_is_unreachable(unused_port: int) -> None:
    settings = Settings(
        environment="test",
        database_url=f"postgresql://postgres@127.0.0.1:{unused_port}/unreachable",
    )
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json is not None
    assert response.json["status"] == 503


def test_docs_are_served_without_a_cdn(client: FlaskClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "/static-offline-docs/" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        script = client.get(f"/static-offline-docs/{asset}")
        assert script.status_code == 200
        assert len(script.data) > 100_000
        # The bundled ReDoc names Redocly's CDN for its logo; the app serves it without.
        assert b"cdn.redoc.ly" not in script.data
        script.close()
    favicon = client.get("/favicon.ico")
    assert favicon.status_code == 200
    assert favicon.mimetype == "image/png"
    favicon.close()


def test_openapi_documents_every_route(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document is not None
    validate(document)
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {
        "/health",
        "/health/ready",
        "/api/v1/auth/register",
        "/api/v1/auth/token",
        "/api/v1/users/me",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}",
    }
    assert "OAuth2PasswordBearer" in document["components"]["securitySchemes"]
    assert "Problem" in document["components"]["schemas"]
    me = document["paths"]["/api/v1/users/me"]["get"]
    assert me["security"] == [{"OAuth2PasswordBearer": []}]
    assert "401" in me["responses"]
