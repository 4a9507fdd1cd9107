"""The bad day, against each generated service running as a real process on 127.0.0.1:
a database that goes away and comes back, concurrent writers, throttled logins, hostile
input, forged tokens, secrets kept out of the logs, and schemathesis on the OpenAPI
document. Framework-agnostic: every framework the template offers runs this module."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from .conftest import SECRET_KEY, Project, Service, create_database, drop_database, serve

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def database(postgres_server: str) -> Iterator[str]:
    name, url = create_database(postgres_server)
    yield url
    drop_database(postgres_server, name)


@pytest.fixture(scope="module")
def service(baked: Project, database: str) -> Iterator[Service]:
    with serve(baked, database) as running:
        yield running


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def register_and_login(url: str) -> tuple[str, dict[str, str]]:
    email = new_email()
    with httpx.Client(base_url=url, timeout=10) as http:
        assert (
            http.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            ).status_code
            == 201
        )
        token = http.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        ).json()["access_token"]
    return email, {"Authorization": f"Bearer {token}"}


# Security


def b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def forged_tokens(user_id: str) -> dict[str, str]:
    now = datetime.now(UTC)
    claims = {"sub": user_id, "iat": now, "exp": now + timedelta(minutes=5)}
    epoch = {"sub": user_id, "iat": int(now.timestamp()), "exp": int(now.timestamp()) + 300}
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(epoch)}.",
        "HS512": jwt.encode(claims, SECRET_KEY + "-padding-for-hs512-keys-0123456789", "HS512"),
        "other key": jwt.encode(claims, "another-secret-key-of-sufficient-length-123", "HS256"),
        "no exp": jwt.encode({"sub": user_id, "iat": now}, SECRET_KEY, "HS256"),
        "expired beyond leeway": jwt.encode(
            {"sub": user_id, "iat": now - timedelta(hours=1), "exp": now - timedelta(minutes=5)},
            SECRET_KEY,
            "HS256",
        ),
    }


def test_forged_and_expired_tokens_are_refused(service: Service) -> None:
    _, auth = register_and_login(service.url)
    with httpx.Client(base_url=service.url, timeout=10) as http:
        me = http.get("/api/v1/users/me", headers=auth).json()
        valid = jwt.encode(
            {
                "sub": str(me["id"]),
                "iat": datetime.now(UTC),
                "exp": datetime.now(UTC) + timedelta(minutes=5),
            },
            SECRET_KEY,
            "HS256",
        )
        assert (
            http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {valid}"}).status_code
            == 200
        )
        for name, token in forged_tokens(str(me["id"])).items():
            response = http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, name


def test_security_headers_on_every_response(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        for response in (http.get("/health"), http.get("/missing"), http.post("/api/v1/tasks")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"]


def test_login_logs_carry_no_password_or_token(service: Service) -> None:
    email, auth = register_and_login(service.url)
    token = auth["Authorization"].removeprefix("Bearer ")
    with httpx.Client(base_url=service.url, timeout=10) as http:
        http.post("/api/v1/auth/token", data={"username": email, "password": "wrong-" + PASSWORD})
        http.get("/api/v1/users/me", headers=auth)
    time.sleep(0.5)  # let the server flush its log lines
    output = service.output()
    assert "/api/v1/auth/token" in output
    assert PASSWORD not in output
    assert token not in output
    assert SECRET_KEY not in output


@pytest.fixture(scope="module")
def throttled_service(baked: Project, database: str) -> Iterator[Service]:
    """Two workers sharing one login limit through Redis."""
    with serve(
        baked,
        database,
        WEB_CONCURRENCY="2",
        LOGIN_RATE_LIMIT="3/minute",
        REDIS_URL="redis://127.0.0.1:6379/0",
    ) as running:
        yield running


def test_login_throttle_is_shared_through_redis(throttled_service: Service) -> None:
    redis_up = socket.socket()
    try:
        redis_up.settimeout(2)
        redis_up.connect(("127.0.0.1", 6379))
    except OSError:
        pytest.fail("Redis at 127.0.0.1:6379 is required for the throttle test")
    finally:
        redis_up.close()
    form = {"username": new_email(), "password": "not the password"}
    statuses = []
    for _ in range(4):
        # A new connection each time, so the attempts spread over both workers.
        with httpx.Client(base_url=throttled_service.url, timeout=10) as http:
            statuses.append(http.post("/api/v1/auth/token", data=form))
    assert [r.status_code for r in statuses] == [401, 401, 401, 429]
    throttled = statuses[-1]
    assert throttled.headers["content-type"].startswith(PROBLEM)
    assert int(throttled.headers["retry-after"]) >= 1
    with httpx.Client(base_url=throttled_service.url, timeout=10) as http:
        other = http.post("/api/v1/auth/token", data=form | {"username": new_email()})
    assert other.status_code == 401


# Concurrency


async def _gather(
    url: str, requests: list[tuple[str, str, dict[str, Any]]]
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(client.request(method, path, **kwargs) for method, path, kwargs in requests)
        )


def test_concurrent_registrations_of_one_email_give_one_201_and_409s(service: Service) -> None:
    email = new_email()
    body = {"email": email, "password": PASSWORD}
    responses = asyncio.run(
        _gather(service.url, [("POST", "/api/v1/auth/register", {"json": body})] * 8)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7


def test_two_hundred_concurrent_creations_all_land(service: Service) -> None:
    _, auth = register_and_login(service.url)
    requests = [
        ("POST", "/api/v1/tasks", {"json": {"title": f"task {n}"}, "headers": auth})
        for n in range(200)
    ]
    responses = asyncio.run(_gather(service.url, requests))
    assert [r.status_code for r in responses] == [201] * 200
    with httpx.Client(base_url=service.url, timeout=10) as http:
        page = http.get("/api/v1/tasks", params={"limit": 1}, headers=auth).json()
    assert page["total"] == 200
    assert len({r.json()["id"] for r in responses}) == 200


# Hostile input


@pytest.mark.parametrize(
    "title",
    [
        "héllo wörld ✓ 🚀 漢字 עברית",
        "Robert'); DROP TABLE tasks;--",
        "<script>alert(1)</script>",
        "%s %d {0} ${jndi:ldap://x}",
        "a\u0301\u200b\u202e",
    ],
)
def test_hostile_strings_are_stored_and_returned_intact(service: Service, title: str) -> None:
    _, auth = register_and_login(service.url)
    with httpx.Client(base_url=service.url, timeout=10) as http:
        created = http.post(
            "/api/v1/tasks", json={"title": title, "description": title}, headers=auth
        )
        assert created.status_code == 201, created.text
        fetched = http.get(f"/api/v1/tasks/{created.json()['id']}", headers=auth).json()
    assert fetched["title"] == title.strip()
    assert fetched["description"] == title


@pytest.mark.parametrize(
    "body",
    [
        {"title": "nul \x00 byte"},
        {"title": "ok", "description": "nul \x00 byte"},
        {"title": "x" * 10_000},
        {"title": ["not", "a", "string"]},
        {"title": {"nested": True}},
    ],
    ids=["nul-title", "nul-description", "10kB-title", "list", "object"],
)
def test_invalid_values_are_422_not_500(service: Service, body: dict[str, Any]) -> None:
    _, auth = register_and_login(service.url)
    with httpx.Client(base_url=service.url, timeout=10) as http:
        response = http.post("/api/v1/tasks", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_nul_in_registration_is_422(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        response = http.post(
            "/api/v1/auth/register",
            json={"email": new_email(), "password": PASSWORD, "full_name": "a\x00b"},
        )
    assert response.status_code == 422


@pytest.mark.parametrize("depth", [100, 10_000, 100_000])
def test_deeply_nested_json_is_a_client_error(service: Service, depth: int) -> None:
    _, auth = register_and_login(service.url)
    body = '{"title": ' + "[" * depth + "]" * depth + "}"
    with httpx.Client(base_url=service.url, timeout=30) as http:
        response = http.post(
            "/api/v1/tasks",
            content=body.encode(),
            headers=auth | {"Content-Type": "application/json"},
        )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


def test_chunked_body_over_the_limit_is_413(service: Service) -> None:
    _, auth = register_and_login(service.url)

    def chunks() -> Iterator[bytes]:
        yield b'{"title": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    with httpx.Client(base_url=service.url, timeout=30) as http:
        response = http.post(
            "/api/v1/tasks", content=chunks(), headers=auth | {"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert "content-length" not in {k.lower() for k in response.request.headers}


# Faults


class Proxy:
    """A TCP proxy on 127.0.0.1 that the test can cut and restore: a database outage."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and kill the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()


def test_database_outage_is_503_and_the_service_recovers(
    baked: Project, database: str, postgres_server: str
) -> None:
    target = psycopg.conninfo.conninfo_to_dict(postgres_server)
    proxy = Proxy(int(target.get("port", 5432)))
    proxy.start()
    proxied = re.sub(r"@[^/]+/", f"@127.0.0.1:{proxy.port}/", database)
    try:
        with serve(baked, proxied) as running:
            _, auth = register_and_login(running.url)
            with httpx.Client(base_url=running.url, timeout=10) as http:
                assert http.get("/health/ready").status_code == 200
                proxy.cut()
                started = time.monotonic()
                ready = http.get("/health/ready")
                assert ready.status_code == 503
                assert time.monotonic() - started < 3.5
                assert ready.headers["content-type"].startswith(PROBLEM)
                api = http.get("/api/v1/tasks", headers=auth)
                assert api.status_code == 503, api.text
                assert api.headers["content-type"].startswith(PROBLEM)
                assert "Traceback" not in api.text
                assert http.get("/health").status_code == 200  # liveness is unaffected
                proxy.start()  # the database is back, on the same address
                deadline = time.monotonic() + 15
                while http.get("/health/ready").status_code != 200:
                    assert time.monotonic() < deadline, "the service did not recover"
                    time.sleep(0.25)
                assert http.get("/api/v1/tasks", headers=auth).status_code == 200
    finally:
        proxy.cut()


def test_no_acknowledged_write_is_lost_on_shutdown_under_load(
    baked: Project, database: str
) -> None:
    with serve(baked, database, GRACEFUL_TIMEOUT="20") as running:
        _, auth = register_and_login(running.url)

        async def load() -> list[httpx.Response | BaseException]:
            async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:

                async def create(n: int) -> httpx.Response:
                    await asyncio.sleep(n * 0.005)
                    return await client.post("/api/v1/tasks", json={"title": f"t{n}"}, headers=auth)

                tasks = [asyncio.create_task(create(n)) for n in range(300)]
                await asyncio.sleep(0.5)
                running.process.terminate()
                return await asyncio.gather(*tasks, return_exceptions=True)

        results = asyncio.run(load())
        assert running.process.wait(timeout=30) == 0, running.output()
    acknowledged = {
        r.json()["id"] for r in results if isinstance(r, httpx.Response) and r.status_code == 201
    }
    assert acknowledged, "no request completed before the shutdown"
    with psycopg.connect(database) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM tasks")}
    assert acknowledged <= stored


# Schemathesis


def test_schemathesis_finds_no_server_error_or_nonconformance(
    service: Service, baked: Project, tmp_path: Any
) -> None:
    _, auth = register_and_login(service.url)
    report = tmp_path / "junit.xml"
    result = subprocess.run(
        [
            "schemathesis", "run", f"{service.url}/openapi.json",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--max-examples", "25", "--seed", "1", "--workers", "1",
            "--phases", "examples,coverage,fuzzing",
            "--header", f"Authorization: {auth['Authorization']}",
            "--report", "junit", "--report-junit-path", str(report),
            "--suppress-health-check", "all",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    tested = re.search(r"(\d+) passed", summary)
    assert tested, summary
