import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from {{ cookiecutter.package_name }}.models import User

from .conftest import MakeUser, TokenFor

TASKS = "/api/v1/tasks"


def create(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    response = client.post(TASKS, json={"title": "Write tests"} | fields)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json  # type: ignore[assignment]
    return task


def test_task_operations_are_named_as_in_the_other_variant(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document is not None
    operation_ids = {
        path: {method: operation["operationId"] for method, operation in operations.items()}
        for path, operations in document["paths"].items()
        if path.startswith(TASKS)
    }
    assert operation_ids == {
        TASKS: {"get": "list_tasks", "post": "create_task"},
        TASKS + "/{task_id}": {"get": "read_task", "patch": "update_task", "delete": "delete_task"},
    }
    assert document["components"]["schemas"]["Priority"]["enum"] == ["low", "normal", "high"]


def test_create_task_applies_defaults(auth_client: FlaskClient) -> None:
    response = auth_client.post(TASKS, json={"title": "Write tests"})
    assert response.status_code == 201
    task = response.json
    assert task is not None
    assert set(task) == {
        "id", "title", "description", "priority", "done", "owner_id", "created_at", "updated_at"
    }  # fmt: skip
    assert task["description"] is None
    assert task["priority"] == "normal"
    assert task["done"] is False
    assert response.headers["location"] == f"{TASKS}/{task['id']}"
    assert datetime.fromisoformat(task["created_at"]).utcoffset() is not None


def test_create_task_strips_title(auth_client: FlaskClient) -> None:
    assert create(auth_client, title="  Ship it  ")["title"] == "Ship it"


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "description": "nul\x00byte"}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "done": "maybe"}, "done"),
        ({"title": "nul\x00byte"}, "title"),
        ({}, "title"),
    ],
)
def test_create_invalid_task_is_422(
    auth_client: FlaskClient, body: dict[str, Any], bad_field: str
) -> None:
    response = auth_client.post(TASKS, json=body)
    assert response.status_code == 422
    problem = response.json
    assert problem is not None
    assert problem["status"] == 422
    assert [error["loc"] for error in problem["errors"]] == [["body", bad_field]]


@pytest.mark.parametrize(
    ("body", "error_type", "message"),
    [
        ({"title": "   "}, "string_too_short", "String should have at least 1 character"),
        ({"title": "x" * 201}, "string_too_long", "String should have at most 200 characters"),
        ({"title": None}, "string_type", "Input should be a valid string"),
        (
            {"title": "ok", "priority": "urgent"},
            "enum",
            "Input should be 'low', 'normal' or 'high'",
        ),
        (
            {"title": "ok", "done": "maybe"},
            "bool_parsing",
            "Input should be a valid boolean, unable to interpret input",
        ),
        ({}, "missing", "Field required"),
    ],
)
def test_field_errors_speak_as_pydantic_does(
    auth_client: FlaskClient, body: dict[str, Any], error_type: str, message: str
) -> None:
    # The FastAPI variant's pydantic words them so: one contract for both.
    response = auth_client.post(TASKS, json=body)
    assert response.status_code == 422
    assert response.json is not None
    [error] = response.json["errors"]
    assert (error["type"], error["msg"]) == (error_type, message)


@pytest.mark.parametrize(
    ("content", "content_type", "error_type"),
    [
        (b"", "application/json", "missing"),
        (b"title=x", "application/x-www-form-urlencoded", "model_attributes_type"),
        (b'{"title": "x"}', "text/plain", "model_attributes_type"),
        (b'{"title": ', "application/json", "json_invalid"),
        (b'{"title": "x", "description": "\\ud800"}', "application/json", "string_unicode"),
    ],
)
def test_a_body_that_is_no_valid_json_object_is_422(
    auth_client: FlaskClient, content: bytes, content_type: str, error_type: str
) -> None:
    response = auth_client.post(TASKS, data=content, content_type=content_type)
    assert response.status_code == 422
    assert response.json is not None
    [error] = response.json["errors"]
    assert (error["loc"][0], error["type"]) == ("body", error_type)


def test_timestamps_are_rfc3339_in_utc_with_z(auth_client: FlaskClient) -> None:
    task = create(auth_client)
    for stamp in (task["created_at"], task["updated_at"]):
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


@pytest.mark.parametrize("task_id", [str(2**40), "abc", "-1", "0"])
def test_an_id_that_names_no_task_is_404(auth_client: FlaskClient, task_id: str) -> None:
    response = auth_client.get(f"{TASKS}/{task_id}")
    assert response.status_code == 404
    assert response.json is not None
    assert response.json["title"] == "Not Found"


def test_unknown_fields_are_ignored_and_the_owner_is_the_caller(
    auth_client: FlaskClient, user: User
) -> None:
    assert create(auth_client, owner_id=user.id + 1, colour="red")["owner_id"] == user.id


@pytest.mark.parametrize("field", ["title", "description"])
def test_lone_surrogate_is_422(auth_client: FlaskClient, field: str) -> None:
    # json.dumps would refuse a lone surrogate; write its escape into the JSON text instead.
    body = json.dumps({"title": "ok"} | {field: "half a pair HERE"}).replace("HERE", "\\ud800")
    response = auth_client.post(TASKS, data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json is not None
    assert [error["loc"] for error in response.json["errors"]] == [["body", field]]


def test_title_of_200_characters_is_accepted(auth_client: FlaskClient) -> None:
    assert len(create(auth_client, title="x" * 200)["title"]) == 200


def test_tasks_require_a_token(client: FlaskClient) -> None:
    response = client.get(TASKS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_list_is_ordered_paged_and_counted(auth_client: FlaskClient) -> None:
    ids = [create(auth_client, title=f"Task {n}")["id"] for n in range(5)]
    page = auth_client.get(TASKS, query_string={"limit": 2, "offset": 1}).json
    assert page is not None
    assert [task["id"] for task in page["items"]] == ids[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)


def test_list_filters_by_done_and_priority(auth_client: FlaskClient) -> None:
    create(auth_client, title="a", priority="high", done=True)
    wanted = create(auth_client, title="b", priority="high")
    create(auth_client, title="c", priority="low")
    page = auth_client.get(TASKS, query_string={"done": "false", "priority": "high"}).json
    assert page is not None
    assert [task["id"] for task in page["items"]] == [wanted["id"]]
    assert page["total"] == 1


@pytest.mark.parametrize(
    ("params", "bad_param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**63}, "offset"),
        ({"priority": "urgent"}, "priority"),
        ({"done": "maybe"}, "done"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_list_rejects_bad_query(
    auth_client: FlaskClient, params: dict[str, Any], bad_param: str
) -> None:
    response = auth_client.get(TASKS, query_string=params)
    assert response.status_code == 422
    assert response.json is not None
    assert [error["loc"] for error in response.json["errors"]] == [["query", bad_param]]


def test_get_task(auth_client: FlaskClient) -> None:
    task = create(auth_client)
    response = auth_client.get(f"{TASKS}/{task['id']}")
    assert response.status_code == 200
    assert response.json == task


@pytest.mark.parametrize("task_id", ["999999", "99999999999999999999"])
def test_missing_task_is_404(auth_client: FlaskClient, task_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = auth_client.open(f"{TASKS}/{task_id}", method=method, json={})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_other_users_task_is_404(
    auth_client: FlaskClient, client: FlaskClient, make_user: MakeUser, token_for: TokenFor
) -> None:
    task = create(auth_client)
    intruder = token_for(make_user("mallory@example.com"))
    url = f"{TASKS}/{task['id']}"
    assert client.get(url, headers=intruder).status_code == 404
    assert client.patch(url, json={"done": True}, headers=intruder).status_code == 404
    assert client.delete(url, headers=intruder).status_code == 404
    assert client.get(TASKS, headers=intruder).json == {
        "items": [], "total": 0, "limit": 20, "offset": 0
    }  # fmt: skip
    assert auth_client.get(url).json == task


def test_patch_changes_only_sent_fields_and_moves_updated_at(auth_client: FlaskClient) -> None:
    task = create(auth_client, description="keep me")
    response = auth_client.patch(f"{TASKS}/{task['id']}", json={"done": True})
    assert response.status_code == 200
    updated = response.json
    assert updated is not None
    assert updated["done"] is True
    assert updated["description"] == "keep me"
    assert updated["title"] == task["title"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        task["updated_at"]
    )
    assert auth_client.get(f"{TASKS}/{task['id']}").json == updated


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"title": None}, "title"),
        ({"title": " "}, "title"),
        ({"priority": None}, "priority"),
        ({"priority": "urgent"}, "priority"),
        ({"done": None}, "done"),
        ({"description": "nul\x00byte"}, "description"),
    ],
)
def test_patch_rejects_invalid_fields(
    auth_client: FlaskClient, body: dict[str, Any], bad_field: str
) -> None:
    task = create(auth_client)
    response = auth_client.patch(f"{TASKS}/{task['id']}", json=body)
    assert response.status_code == 422
    assert response.json is not None
    assert [error["loc"] for error in response.json["errors"]] == [["body", bad_field]]


def test_patch_can_clear_the_description(auth_client: FlaskClient) -> None:
    task = create(auth_client, description="old")
    response = auth_client.patch(f"{TASKS}/{task['id']}", json={"description": None})
    assert response.json is not None
    assert response.json["description"] is None


def test_delete_task(auth_client: FlaskClient) -> None:
    task = create(auth_client)
    response = auth_client.delete(f"{TASKS}/{task['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert auth_client.get(f"{TASKS}/{task['id']}").status_code == 404
