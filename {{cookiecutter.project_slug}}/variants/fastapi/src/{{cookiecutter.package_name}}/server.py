"""The HTTP protocol `serve` runs: uvicorn's httptools protocol, with limits on request heads.

With httptools, uvicorn puts no bound on the size of a request's line and headers, nor on
the time they take to arrive: slow or silent clients keep their connections forever. This
protocol closes a connection whose head has not arrived within HEAD_TIMEOUT, answers 431 to
a head over MAX_HEAD_BYTES or MAX_HEADERS, and answers the errors the parser finds as problem
details. Once shutdown has begun it answers with `Connection: close`, and closes an idle
connection only after SHUTDOWN_LINGER, so a request already on its way is answered, not reset.
"""

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT = 10.0  # seconds for a request line and headers to arrive, whatever the pace
MAX_HEAD_BYTES = 64 * 1024  # request line and headers together
MAX_HEADERS = 100  # as gunicorn and nginx allow
SHUTDOWN_LINGER = 2.0  # seconds an idle connection stays open once shutdown has begun
MAX_CONNECTIONS = 2048  # per worker; beyond it uvicorn answers 503 (limit_concurrency)
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle connection stays open between requests
WORKER_HEALTHCHECK_TIMEOUT = 30  # seconds a worker may take to answer uvicorn's ping


class HeadTooLargeError(Exception):
    """The request's line and headers are over MAX_HEAD_BYTES or MAX_HEADERS."""


class LimitedHttpProtocol(HttpToolsProtocol):
    """httptools' HTTP/1.1, with a deadline and a size limit on each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_head = False
        self.head_bytes = 0  # bytes received while reading the head, counted as they arrive
        self.head_size = 0  # the parsed line and headers, counted exactly
        self.header_count = 0
        self.head_too_large = False
        self.shutting_down = False
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        between_requests = self.cycle is None or self.cycle.response_complete
        if self.reading_head or between_requests:
            self.head_bytes += len(data)
        super().data_received(data)
        # A head still incomplete: httptools buffers it, so it is bounded here.
        if self.reading_head and self.head_bytes > MAX_HEAD_BYTES:
            self.head_too_large = True
            self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_head = True
        self.head_size = 0
        self.header_count = 0

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        self.head_size += len(name) + len(value) + 4
        if self.header_count > MAX_HEADERS or self.head_size > MAX_HEAD_BYTES:
            self.head_too_large = True
            raise HeadTooLargeError
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.reading_head = False
        self.head_bytes = 0
        self.stop_head_timer()
        super().on_headers_complete()
        if self.shutting_down and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.start_head_timer()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 - uvicorn's message is plain text
        if self.transport.is_closing():
            return
        if self.head_too_large:
            self.send_problem(431, "The request's headers are too large.")
        else:
            self.send_problem(400, "The request is not valid HTTP/1.1.")

    def send_problem(self, status: int, detail: str) -> None:
        phrase = HTTPStatus(status).phrase
        body = json.dumps(
            {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
        ).encode()
        head = [f"HTTP/1.1 {status} {phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.transport.close()

    def shutdown(self) -> None:
        self.shutting_down = True
        if self.cycle is None or self.cycle.response_complete:
            self.loop.call_later(SHUTDOWN_LINGER, self.close_if_idle)
        else:
            self.cycle.keep_alive = False

    def close_if_idle(self) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()

    def start_head_timer(self) -> None:
        self.stop_head_timer()
        self.head_timer = self.loop.call_later(HEAD_TIMEOUT, self.on_head_timeout)

    def stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def on_head_timeout(self) -> None:
        # Only a connection that is waiting for a head: never one whose request is running.
        if self.reading_head or self.cycle is None or self.cycle.response_complete:
            self.transport.close()
