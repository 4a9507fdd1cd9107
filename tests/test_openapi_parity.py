"""Both variants publish the same API: paths, methods, status codes and field names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import FRAMEWORKS, Project

# Prints the service's OpenAPI document, whatever the framework, without a server.
DUMP_OPENAPI = """
import json, sys
from {package}.app import create_app
app = create_app()
if hasattr(app, "test_client"):
    document = app.test_client().get("/openapi.json").get_json()
else:
    document = app.openapi()
json.dump(document, sys.stdout)
"""


def openapi_document(project: Project) -> dict[str, Any]:
    python = str(project.path / ".venv" / "bin" / "python")
    result = project.run(python, "-c", DUMP_OPENAPI.format(package=project.package))
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def field_names(document: dict[str, Any], schema: dict[str, Any] | None) -> frozenset[str]:
    """Property names of an object schema, following $ref, arrays and allOf."""
    if not schema:
        return frozenset()
    schema = resolve(document, schema)
    if schema.get("type") == "array":
        return field_names(document, schema.get("items"))
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= field_names(document, part)
    return frozenset(names)


def content_schema(part: dict[str, Any]) -> dict[str, Any] | None:
    for media in part.get("content", {}).values():
        schema: dict[str, Any] | None = media.get("schema")
        return schema
    return None


def surface(document: dict[str, Any]) -> dict[str, Any]:
    """What a client of the API depends on, with each framework's spelling taken out."""
    api: dict[str, Any] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            body = operation.get("requestBody")
            query = sorted(
                p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
            )
            statuses = set(operation.get("responses", {}))
            if not body and not query:
                # A malformed path id: FastAPI validates it (422), Flask's URL converter does
                # not match it (404). Both are documented faithfully; clients see no field error.
                statuses.discard("422")
            api[f"{method.upper()} {path}"] = {
                "statuses": sorted(statuses),
                "request fields": sorted(field_names(document, content_schema(body or {}))),
                "response fields": {
                    status: sorted(field_names(document, content_schema(response)))
                    for status, response in operation.get("responses", {}).items()
                    if status.startswith("2")
                },
                "query": query,
                "secured": bool(operation.get("security")),
            }
    return api


@pytest.mark.skipif(len(FRAMEWORKS) < 2, reason="only one framework is offered")
def test_variants_publish_the_same_api(default_bakes: dict[str, Project]) -> None:
    surfaces = {
        framework: surface(openapi_document(default_bakes[framework])) for framework in FRAMEWORKS
    }
    first, *others = FRAMEWORKS
    for other in others:
        assert surfaces[other] == surfaces[first], f"{other} differs from {first}"
