"""The gunicorn worker `serve` runs: gthread, hardened against slow clients.

gunicorn's gthread worker reads a request's head in one of its threads, so a few clients
sending their headers a byte at a time (slowloris) hold every thread and the service stops
answering. This worker reads heads in its event loop instead and hands a connection to a
thread only once its head is complete; a head that takes longer than HEAD_TIMEOUT closes
the connection. Closing a connection after its last response lingers in the event loop too
(gthread waits for the client in a blocking read, up to 2 s, and serves nobody meanwhile).
It also answers the errors gunicorn writes itself (a malformed request, a header too large)
as problem details, and sends no `Server` header.
"""

import json
import selectors
import socket
import time
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from gunicorn.workers.gthread import TConn, ThreadWorker

from .errors import PROBLEM_CONTENT_TYPE

HEAD_TIMEOUT = 10.0  # seconds for a request line and headers to arrive, whatever the pace
STOP_LINGER = 2.0  # seconds a stopping worker still waits for a head, as gthread does
CLOSE_LINGER = 2.0  # seconds a closed connection drains what the client still sends
HEAD_END = b"\r\n\r\n"
_READ_SIZE = 64 * 1024


@dataclass
class Head:
    """What has arrived of a request's line and headers, and until when the rest may come."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)


class Connection(TConn):
    """gthread's connection, whose graceful close lingers in the worker's event loop."""

    def __init__(self, worker: "SlowClientSafeWorker", *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.worker.linger(self)
        else:
            super().close()


class SlowClientSafeWorker(ThreadWorker):
    """gthread whose threads only ever serve requests whose head has fully arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Connections whose request line and headers are still arriving.
        self.heads: dict[TConn, Head] = {}
        self.lingering: dict[socket.socket, float] = {}  # closing sockets and their deadlines
        self.stopping_at: float | None = None

    def init_process(self) -> None:
        # gunicorn has no setting for either: its error pages and its Server header.
        util.write_error = write_problem
        wsgi.Response = ResponseWithoutServerHeader  # type: ignore[misc]
        super().init_process()

    def accept(self, listener: socket.socket) -> None:
        try:
            client, address = listener.accept()
        except BlockingIOError:
            return  # another worker took it
        except ConnectionAbortedError:
            return
        self.nr_conns += 1
        self.read_head(Connection(self, self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        # A kept-alive connection's next request: its head is read here too.
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self.read_head(conn)

    def read_head(self, conn: TConn) -> None:
        if self.cfg.is_ssl:  # the TLS handshake happens in the thread: gthread's own way
            self.enqueue_req(conn)
            return
        conn.sock.setblocking(False)
        self.heads[conn] = Head(deadline=time.monotonic() + HEAD_TIMEOUT)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_head_data, conn))

    def on_head_data(self, conn: TConn, client: socket.socket) -> None:
        try:
            data = client.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self.forget_head(conn)
            self.nr_conns -= 1
            conn.close()
            return
        head = self.heads[conn].data
        head += data
        complete = HEAD_END in head[-len(data) - len(HEAD_END) :]
        # Too long a head is handed on too: gunicorn's parser answers it 414 or 431.
        if not complete and len(head) <= self.head_limit():
            return
        self.forget_head(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        assert isinstance(conn.parser, RequestParser)  # noqa: S101 - no TLS, so no HTTP/2 here
        conn.parser.unreader.unread(bytes(head))
        conn.data_ready = True
        self.enqueue_req(conn)

    def head_limit(self) -> int:
        line: int = self.cfg.limit_request_line
        fields: int = self.cfg.limit_request_fields
        size: int = self.cfg.limit_request_field_size
        return line + fields * (size + 2) + len(HEAD_END)

    def forget_head(self, conn: TConn) -> None:
        self.poller.unregister(conn.sock)
        del self.heads[conn]

    def linger(self, conn: TConn) -> None:
        """Send FIN, then read and drop what the client still sends until it closes too.

        Closing with unread bytes would send a reset, which can destroy the response.
        """
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            conn.sock.close()
            return
        conn.sock.setblocking(False)
        self.lingering[conn.sock] = time.monotonic() + CLOSE_LINGER
        self.poller.register(conn.sock, selectors.EVENT_READ, self.on_linger_data)

    def on_linger_data(self, sock: socket.socket) -> None:
        try:
            if sock.recv(_READ_SIZE):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.end_linger(sock)

    def end_linger(self, sock: socket.socket) -> None:
        self.poller.unregister(sock)
        del self.lingering[sock]
        sock.close()

    def murder_pending(self) -> None:
        """Close the connections whose head did not arrive in time, then gthread's own."""
        now = time.monotonic()
        if not self.alive and self.stopping_at is None:
            # Stopping: a head already on its way gets as long as a kept-alive connection.
            self.stopping_at = now + STOP_LINGER
        deadline_cap = self.stopping_at or now + HEAD_TIMEOUT
        expired = [
            conn for conn, head in self.heads.items() if min(head.deadline, deadline_cap) <= now
        ]
        for conn in expired:
            self.forget_head(conn)
            self.nr_conns -= 1
            conn.close()
        for sock in [sock for sock, deadline in self.lingering.items() if deadline <= now]:
            self.end_linger(sock)
        super().murder_pending()


class ResponseWithoutServerHeader(wsgi.Response):
    def default_headers(self) -> list[str]:
        return [line for line in super().default_headers() if not line.startswith("Server:")]


def write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's error answer (util.write_error), as problem details."""
    body = json.dumps(
        {
            "type": "about:blank",
            "title": reason or HTTPStatus(status_int).phrase,
            "status": status_int,
            "detail": mesg or reason,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)
