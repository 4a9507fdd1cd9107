from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from .conftest import MakeUser, TokenFor

TASKS = "/api/v1/tasks"


async def create(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(TASKS, json={"title": "Write tests"} | fields)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def test_task_operations_are_named_as_in_the_other_variant(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
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


async def test_create_task_applies_defaults(auth_client: httpx.AsyncClient) -> None:
    response = await auth_client.post(TASKS, json={"title": "Write tests"})
    assert response.status_code == 201
    task = response.json()
    assert set(task) == {
        "id", "title", "description", "priority", "done", "owner_id", "created_at", "updated_at"
    }  # fmt: skip
    assert task["description"] is None
    assert task["priority"] == "normal"
    assert task["done"] is False
    assert response.headers["location"] == f"{TASKS}/{task['id']}"
    assert datetime.fromisoformat(task["created_at"]).utcoffset() is not None


async def test_create_task_strips_title(auth_client: httpx.AsyncClient) -> None:
    assert (await create(auth_client, title="  Ship it  "))["title"] == "Ship it"


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "priority": "urgent"}, "priority"),
        ({"title": "ok", "done": "maybe"}, "done"),
        ({"title": "nul\x00byte"}, "title"),
        ({}, "title"),
    ],
)
async def test_create_invalid_task_is_422(
    auth_client: httpx.AsyncClient, body: dict[str, Any], bad_field: str
) -> None:
    response = await auth_client.post(TASKS, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert [error["loc"][-1] for error in problem["errors"]] == [bad_field]


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
async def test_field_errors_speak_as_pydantic_does(
    auth_client: httpx.AsyncClient, body: dict[str, Any], error_type: str, message: str
) -> None:
    # The Flask variant words its field errors the same: one contract for both.
    response = await auth_client.post(TASKS, json=body)
    assert response.status_code == 422
    [error] = response.json()["errors"]
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
async def test_a_body_that_is_no_valid_json_object_is_422(
    auth_client: httpx.AsyncClient, content: bytes, content_type: str, error_type: str
) -> None:
    response = await auth_client.post(
        TASKS, content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["loc"][0], error["type"]) == ("body", error_type)


async def test_timestamps_are_rfc3339_in_utc_with_z(auth_client: httpx.AsyncClient) -> None:
    task = await create(auth_client)
    for stamp in (task["created_at"], task["updated_at"]):
        assert stamp.endswith("Z")
        assert datetime.fromisoformat(stamp).utcoffset() == timedelta(0)


@pytest.mark.parametrize("task_id", [str(2**40), "abc", "-1", "0"])
async def test_an_id_that_names_no_task_is_404(
    auth_client: httpx.AsyncClient, task_id: str
) -> None:
    response = await auth_client.get(f"{TASKS}/{task_id}")
    assert response.status_code == 404
    assert response.json()["title"] == "Not Found"


async def test_title_of_200_characters_is_accepted(auth_client: httpx.AsyncClient) -> None:
    assert len((await create(auth_client, title="x" * 200))["title"]) == 200


async def test_tasks_require_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(TASKS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_list_is_ordered_paged_and_counted(auth_client: httpx.AsyncClient) -> None:
    ids = [(await create(auth_client, title=f"Task {n}"))["id"] for n in range(5)]
    response = await auth_client.get(TASKS, params={"limit": 2, "offset": 1})
    assert response.status_code == 200
    page = response.json()
    assert [task["id"] for task in page["items"]] == ids[1:3]
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 1)


async def test_list_filters_by_done_and_priority(auth_client: httpx.AsyncClient) -> None:
    await create(auth_client, title="a", priority="high", done=True)
    wanted = await create(auth_client, title="b", priority="high")
    await create(auth_client, title="c", priority="low")
    page = (await auth_client.get(TASKS, params={"done": "false", "priority": "high"})).json()
    assert [task["id"] for task in page["items"]] == [wanted["id"]]
    assert page["total"] == 1


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"priority": "urgent"}, {"done": "maybe"}],
)
async def test_list_rejects_bad_query(
    auth_client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await auth_client.get(TASKS, params=params)
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_get_task(auth_client: httpx.AsyncClient) -> None:
    task = await create(auth_client)
    response = await auth_client.get(f"{TASKS}/{task['id']}")
    assert response.status_code == 200
    assert response.json() == task


async def test_missing_task_is_404(auth_client: httpx.AsyncClient) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await auth_client.request(method, f"{TASKS}/999999", json={})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_other_users_task_is_404(
    auth_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    token_for: TokenFor,
) -> None:
    task = await create(auth_client)
    intruder = token_for(await make_user("mallory@example.com"))
    url = f"{TASKS}/{task['id']}"
    assert (await client.get(url, headers=intruder)).status_code == 404
    assert (await client.patch(url, json={"done": True}, headers=intruder)).status_code == 404
    assert (await client.delete(url, headers=intruder)).status_code == 404
    assert (await client.get(TASKS, headers=intruder)).json()["total"] == 0
    assert (await auth_client.get(url)).json()["done"] is False


async def test_patch_changes_only_sent_fields_and_moves_updated_at(
    auth_client: httpx.AsyncClient,
) -> None:
    task = await create(auth_client, description="keep me")
    response = await auth_client.patch(f"{TASKS}/{task['id']}", json={"done": True})
    assert response.status_code == 200
    updated = response.json()
    assert updated["done"] is True
    assert updated["description"] == "keep me"
    assert updated["title"] == task["title"]
    assert datetime.fromisoformat(updated["updated_at"]) > datetime.fromisoformat(
        task["updated_at"]
    )
    assert (await auth_client.get(f"{TASKS}/{task['id']}")).json() == updated


@pytest.mark.parametrize(
    "body", [{"title": None}, {"title": " "}, {"priority": "urgent"}, {"done": None}]
)
async def test_patch_rejects_invalid_fields(
    auth_client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    task = await create(auth_client)
    assert (await auth_client.patch(f"{TASKS}/{task['id']}", json=body)).status_code == 422


async def test_patch_can_clear_the_description(auth_client: httpx.AsyncClient) -> None:
    task = await create(auth_client, description="old")
    response = await auth_client.patch(f"{TASKS}/{task['id']}", json={"description": None})
    assert response.json()["description"] is None


async def test_delete_task(auth_client: httpx.AsyncClient) -> None:
    task = await create(auth_client)
    response = await auth_client.delete(f"{TASKS}/{task['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await auth_client.get(f"{TASKS}/{task['id']}")).status_code == 404
