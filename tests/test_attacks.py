"""A worse day: the attacks of issue 11, against each generated service as a real process.

The database faults (sessions killed, connections refused, a fast restart, a commit that
dies) happen on a private PostgreSQL cluster this module starts with initdb and pg_ctl on a
free port in a temporary folder, never on the shared server. Attacks are bounded: slowloris
runs for the head timeout of the servers plus a margin (about 13 s), not a minute.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import psycopg
import pytest

from .harness import (
    IN_CI,
    SECRET_KEY,
    Cluster,
    Project,
    free_port,
    postgres_binaries,
    private_cluster,
    serve,
    service_env,
)
from .harness import Server as Service

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"
HEAD_TIMEOUT = 10  # seconds, the servers' limit for a request's head (server.py in each)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL server of this module's own: it may be stopped, killed and starved."""
    binaries = postgres_binaries()
    if binaries is None:
        reason = "initdb and pg_ctl (PostgreSQL's server package) are needed for a private cluster"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    with private_cluster(binaries) as running:
        yield running


@pytest.fixture(scope="module")
def service_database(baked: Project, cluster: Cluster) -> str:
    return cluster.create_database()


@pytest.fixture(scope="module")
def service(baked: Project, service_database: str) -> Iterator[Service]:
    with serve(baked, service_database) as running:
        yield running


def new_email(domain: str = "example.com") -> str:
    return f"user-{uuid.uuid4().hex[:12]}@{domain}"


def register(http: httpx.Client, email: str) -> httpx.Response:
    return http.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})


def login(http: httpx.Client, email: str, **headers: str) -> httpx.Response:
    form = {"username": email, "password": PASSWORD}
    return http.post("/api/v1/auth/token", data=form, headers=headers)


def bearer(http: httpx.Client) -> dict[str, str]:
    email = new_email()
    assert register(http, email).status_code == 201
    return {"Authorization": f"Bearer {login(http, email).json()['access_token']}"}


def raw_request(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send bytes on a fresh connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_response(sock)


def read_response(sock: socket.socket) -> bytes:
    """One whole response: its head, then as many body bytes as Content-Length says."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(headers_of(head).get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
    return data


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {
        name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)
    }


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


def port_of(service: Service) -> int:
    return int(service.url.rsplit(":", 1)[1])


# 1 and 10: connection-level database failures are 503, never 500


@pytest.fixture(scope="module")
def app_role(cluster: Cluster) -> str:
    """A login role of its own, so the test can refuse and cut its connections only."""
    cluster.execute("CREATE ROLE relapp LOGIN")
    return "relapp"


def test_refused_and_cut_database_connections_are_503(
    baked: Project, cluster: Cluster, app_role: str
) -> None:
    database = cluster.create_database(owner=app_role)
    cut = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{app_role}'"
    with serve(baked, database) as running, httpx.Client(base_url=running.url, timeout=10) as http:
        auth = bearer(http)
        assert http.get("/api/v1/tasks", headers=auth).status_code == 200
        cluster.execute(f"ALTER ROLE {app_role} CONNECTION LIMIT 0")
        try:
            cluster.execute(cut)
            refused = [http.get("/api/v1/tasks", headers=auth) for _ in range(20)]
        finally:
            cluster.execute(f"ALTER ROLE {app_role} CONNECTION LIMIT -1")
        assert [r.status_code for r in refused] == [503] * 20, refused[0].text
        assert all(r.headers["content-type"].startswith(PROBLEM) for r in refused)
        assert all(r.headers["retry-after"] == "5" for r in refused)
        # Sessions killed under the service's feet, then a fast restart, under steady load.
        statuses = load_while(http, auth, lambda: (cluster.execute(cut), restart(cluster)))
        assert http.get("/api/v1/tasks", headers=auth).status_code == 200
    assert statuses.get(500, 0) == 0, statuses
    assert statuses.get(503, 0) + statuses.get(200, 0) + statuses.get(201, 0) == sum(
        statuses.values()
    ), statuses


def restart(cluster: Cluster) -> None:
    cluster.stop("fast")
    time.sleep(0.5)
    cluster.start()


def load_while(
    http: httpx.Client, auth: dict[str, str], fault: Callable[[], object], workers: int = 4
) -> dict[int, int]:
    """Status counts of reads and writes sent by a few threads while `fault()` runs."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    done = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=10) as own:
            n = 0
            while not done.is_set():
                n += 1
                if n % 2:
                    response = own.get("/api/v1/tasks", headers=auth)
                else:
                    response = own.post("/api/v1/tasks", json={"title": f"t{n}"}, headers=auth)
                with lock:
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        fault()
        time.sleep(1.5)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    return statuses


def test_a_commit_that_fails_is_503_and_stores_nothing(
    service: Service, service_database: str, cluster: Cluster
) -> None:
    database = service_database.rsplit("/", 1)[1]
    # The session dies at COMMIT, after the handler ran: a deferred trigger terminates it.
    cluster.execute(
        """
        CREATE OR REPLACE FUNCTION die_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.title = 'die at commit' THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
            END IF;
            RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER die_at_commit AFTER INSERT ON tasks
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION die_at_commit();
        """,
        dbname=database,
    )
    with httpx.Client(base_url=service.url, timeout=10) as http:
        auth = bearer(http)
        response = http.post("/api/v1/tasks", json={"title": "die at commit"}, headers=auth)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.headers["retry-after"] == "5"
        stored = cluster.execute(
            "SELECT count(*) FROM tasks WHERE title = 'die at commit'", dbname=database
        )
        assert stored == [(0,)]
        assert http.post("/api/v1/tasks", json={"title": "fine"}, headers=auth).status_code == 201


# 2 and 8: slow and silent clients


def test_slow_and_silent_clients_neither_stall_the_service_nor_stay(service: Service) -> None:
    port = port_of(service)
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(500)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    stop = threading.Event()

    def drip() -> None:  # one byte a second on each slow connection
        while not stop.wait(1):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.send(b"a")

    dripping = threading.Thread(target=drip)
    dripping.start()
    latencies = []
    try:
        with httpx.Client(base_url=service.url, timeout=5) as http:
            auth = bearer(http)
            deadline = time.monotonic() + HEAD_TIMEOUT - 1
            while time.monotonic() < deadline:
                for path, headers in (("/health", {}), ("/api/v1/tasks", auth)):
                    started = time.monotonic()
                    # A new connection each time, as a load balancer's probe makes.
                    with httpx.Client(base_url=service.url, timeout=5) as probe:
                        assert probe.get(path, headers=headers).status_code == 200
                    latencies.append(time.monotonic() - started)
                time.sleep(0.25)
        assert max(latencies) < 1, sorted(latencies)[-5:]
        # Heads that never complete cost the client its connection.
        time.sleep(4)
        still_open = [sock for sock in slow + silent if not closed_by_server(sock)]
        assert not still_open, f"{len(still_open)} of {len(slow + silent)} connections still open"
    finally:
        stop.set()
        dripping.join()
        for sock in slow + silent:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def test_oversized_heads_are_431_problems(service: Service) -> None:
    port = port_of(service)
    many = "".join(f"X-Header-{n}: {n}\r\n" for n in range(200))
    headers = {
        "200 headers": many,
        "133 kB token": f"Authorization: Bearer {'a' * 133_000}\r\n",
        "200 kB header": f"X-Big: {'b' * 200_000}\r\n",
    }
    for name, extra in headers.items():
        head = f"GET /health HTTP/1.1\r\nHost: x\r\n{extra}\r\n"
        response = raw_request(port, head.encode())
        assert status_of(response) == 431, (name, response[:300])
        assert headers_of(response.partition(b"\r\n\r\n")[0])["content-type"] == PROBLEM, name


# 12: what the server answers itself is problem+json too, and it doesn't name itself


def test_malformed_request_is_a_400_problem_without_server_header(service: Service) -> None:
    response = raw_request(port_of(service), b"GARBAGE\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert status_of(response) == 400, response[:300]
    assert headers_of(head)["content-type"] == PROBLEM
    assert b'"status": 400' in body
    assert "server" not in httpx.get(f"{service.url}/health").headers


# 3: the login limit counts the client a trusted proxy names


def test_login_limit_counts_the_forwarded_client(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        victim = new_email()
        assert register(http, victim).status_code == 201
        wrong = {"username": victim, "password": "not the password"}
        for _ in range(10):
            attempt = http.post(
                "/api/v1/auth/token", data=wrong, headers={"X-Forwarded-For": "10.9.9.9"}
            )
            assert attempt.status_code == 401
        blocked = http.post(
            "/api/v1/auth/token", data=wrong, headers={"X-Forwarded-For": "10.9.9.9"}
        )
        assert blocked.status_code == 429
        assert login(http, victim, **{"X-Forwarded-For": "10.8.8.8"}).status_code == 200


# 4: a signed token whose subject is no user id


@pytest.mark.parametrize("subject", ["²", "2147483648", "9" * 5000, "-1", "0x1", " 1"])
def test_signed_token_with_a_strange_subject_is_401(service: Service, subject: str) -> None:
    now = datetime.now(UTC)
    token = jwt.encode(
        {"sub": subject, "iat": now, "exp": now + timedelta(minutes=5)}, SECRET_KEY, "HS256"
    )
    response = httpx.get(
        f"{service.url}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


# 5 and 9: one account per address, however it is spelt


LOOK_ALIKES = {
    "combining-ring": ("Åsa@{tag}.io", "A\u030asa@{tag}.io"),
    "sharp-s": ("STRASSE@{tag}.io", "straße@{tag}.io"),
    "full-width": ("\uff41bc@{tag}.io", "abc@{tag}.io"),
    "idna": ("a@bücher-{tag}.de", "a@{ascii_domain}"),
}


@pytest.mark.parametrize(("registered", "look_alike"), LOOK_ALIKES.values(), ids=LOOK_ALIKES)
def test_look_alike_emails_are_one_account(
    service: Service, registered: str, look_alike: str
) -> None:
    registered = registered.format(tag=uuid.uuid4().hex[:8])
    domain = registered.split("@")[1]
    look_alike = look_alike.format(
        tag=domain.split(".")[0], ascii_domain=domain.encode("idna").decode()
    )
    with httpx.Client(base_url=service.url, timeout=10) as http:
        assert register(http, registered).status_code == 201
        assert register(http, look_alike).status_code == 409
        assert login(http, look_alike).status_code == 200
        assert login(http, registered).status_code == 200


# 6: a refused body closes its connection


def test_a_413_closes_the_connection(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=10) as http:
        auth = bearer(http)
    head = (
        "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Length: {2 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port_of(service)), timeout=10) as sock:
        sock.sendall(head.encode() + b"x" * 256 * 1024)
        response = read_response(sock)
    assert status_of(response) == 413
    assert headers_of(response.partition(b"\r\n\r\n")[0]).get("connection") == "close"


# 7: two `migrate` at once


def test_two_migrations_at_once_both_succeed(baked: Project, cluster: Cluster) -> None:
    database = cluster.create_database()
    dbname = database.rsplit("/", 1)[1]
    command = str(baked.path / ".venv" / "bin" / baked.slug)
    env = service_env(database, free_port())
    # A transaction of the test's own creates `users` and holds it uncommitted: the first
    # migration blocks on it, so the second surely starts while the first is under way.
    with psycopg.connect(cluster.url, dbname=dbname) as blocker:
        blocker.execute("CREATE TABLE users (id int)")
        first = subprocess.Popen([command, "migrate"], cwd=baked.path, env=env, **PIPES)
        wait_for_waiting_sessions(cluster, dbname, 1)
        second = subprocess.Popen([command, "migrate"], cwd=baked.path, env=env, **PIPES)
        wait_for_waiting_sessions(cluster, dbname, 2)
        blocker.rollback()
    outcomes = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outcomes
    tables = cluster.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users', 'tasks')",
        dbname=dbname,
    )
    assert tables == [(2,)]


PIPES: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}


def wait_for_waiting_sessions(cluster: Cluster, dbname: str, count: int) -> None:
    deadline = time.monotonic() + 60
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = '{dbname}' AND wait_event_type = 'Lock'"
    )
    while cluster.execute(query)[0][0] < count:  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{count} migration(s) never waited on a lock"
        time.sleep(0.1)


# 11: SIGTERM: requests already on their way over kept-alive connections are answered


def test_requests_on_kept_alive_connections_after_sigterm_are_answered(
    baked: Project, cluster: Cluster
) -> None:
    with serve(baked, cluster.create_database()) as running:
        port = port_of(running)
        request = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(20)]
        try:
            for sock in connections:
                sock.sendall(request)
                assert status_of(read_response(sock)) == 200
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the server has begun to stop; these requests are on their way
            answers = []
            for sock in connections:
                with contextlib.suppress(OSError):
                    sock.sendall(request)
                answers.append(read_response(sock))
        finally:
            for sock in connections:
                sock.close()
        assert running.process.wait(timeout=30) == 0
    answered = [a for a in answers if a.startswith(b"HTTP/1.1 200")]
    assert len(answered) == len(connections), [a[:60] for a in answers]
    for answer in answered:
        assert headers_of(answer.partition(b"\r\n\r\n")[0]).get("connection") == "close"
