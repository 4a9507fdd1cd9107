"""Graceful shutdown of `<slug> serve`, as Kubernetes and Docker stop it: SIGTERM.

A request still being received when SIGTERM arrives must complete; meanwhile the server
serves no new connection, and once the request is done it exits within GRACEFUL_TIMEOUT.
The request is slow because the client sends its body slowly: no test-only route is needed.

"Serves no new connection" is checked as a client sees it, because the servers differ at the
TCP level: uvicorn closes its listening socket at once (new connections are refused), while
gunicorn's gthread worker stops accepting but closes the socket only when its last request
is done (new connections wait in the kernel's backlog, unanswered, and are reset at exit).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from .harness import Project, image_server

GRACEFUL_TIMEOUT = 40  # seconds; generous, the test never waits for it to run out
IO_TIMEOUT = 30  # seconds for one socket operation of the slow request
UNANSWERED = 10  # seconds without an answer to /health that mean "not served" (it takes ms)


def recv_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Everything until the peer closes; a reset counts as a close."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def final_status(raw: bytes) -> int:
    """The status of the final response, skipping any 1xx interim responses."""
    head = raw
    while head.startswith(b"HTTP/1.1 1"):
        head = head.split(b"\r\n\r\n", 1)[1]
    assert head.startswith(b"HTTP/1.1 "), raw
    return int(head.split(b" ", 2)[1])


class Served(Exception):
    """The server answered a new connection: it has not begun to shut down yet."""


def probe(host: str, port: int) -> socket.socket | None:
    """Ask for /health on a new connection while the server shuts down.

    None: the connection was refused. A socket: connected but left unanswered for
    UNANSWERED seconds (the caller checks that no answer ever comes). Raises `Served` if the
    server still answered, i.e. it had not yet begun to shut down.
    """
    try:
        sock = socket.create_connection((host, port), timeout=IO_TIMEOUT)
    except ConnectionRefusedError:
        return None
    sock.sendall(
        f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    sock.settimeout(UNANSWERED)
    try:
        answer = sock.recv(65536)
    except TimeoutError:
        sock.settimeout(IO_TIMEOUT)
        return sock
    except ConnectionResetError:
        answer = b""
    sock.close()
    if answer.startswith(b"HTTP/"):
        raise Served
    return None  # closed without an answer: as good as refused


def test_sigterm_lets_a_slow_upload_finish(baked: Project, tmp_path: Path) -> None:
    server = image_server(
        baked, tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
        GRACEFUL_TIMEOUT=str(GRACEFUL_TIMEOUT), WEB_CONCURRENCY="1",
    )  # fmt: skip
    host, port = server.host, server.port

    body = json.dumps(
        {"email": f"slow-{uuid.uuid4().hex[:8]}@example.com", "password": "correct horse battery"}
    ).encode()
    head = (
        "POST /api/v1/auth/register HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        # Both servers answer "100 Continue" once the request is being handled and its body
        # is awaited: proof that it is in flight before SIGTERM, without a sleep to guess it.
        "Expect: 100-continue\r\n"
        "\r\n"
    ).encode()

    with server.running():
        process = server.process
        assert process is not None
        with socket.create_connection((host, port), timeout=IO_TIMEOUT) as client:
            client.sendall(head)
            interim = recv_until(client, b"\r\n\r\n")
            assert interim.startswith(b"HTTP/1.1 100"), interim
            client.sendall(body[:10])  # part of the body; the rest comes after SIGTERM

            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + IO_TIMEOUT
            while True:  # until a new connection goes unserved
                assert process.poll() is None, f"exited early:\n{server.output()[-3000:]}"
                try:
                    waiting = probe(host, port)
                    break
                except Served:
                    assert time.monotonic() < deadline, "still serving new connections"
                    time.sleep(0.1)
            assert process.poll() is None, "the server exited with a request in flight"

            client.sendall(body[10:])
            response = recv_all(client)
        assert final_status(response) == 201, response.decode(errors="replace")

        try:
            returncode: int | None = process.wait(timeout=GRACEFUL_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            returncode = None
        output = server.output()[-3000:]
        assert returncode is not None, f"did not exit after its last request:\n{output}"
        if waiting is not None:
            with waiting:
                assert recv_all(waiting) == b"", "a connection made after SIGTERM was served"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=IO_TIMEOUT).close()

        assert returncode == 0, f"exit status {returncode}:\n{output}"
