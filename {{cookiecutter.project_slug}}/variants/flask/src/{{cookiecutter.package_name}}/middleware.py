"""WSGI middleware: request ids, access logs, the body size limit, the last-resort 500 and
the security headers."""

import io
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import SERVER_ERROR_DETAIL, problem_response
from .logs import request_id_var

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_READ_SIZE = 64 * 1024


class RequestContextMiddleware:
    """Give each request an id (echoed or generated), log it, and turn crashes into a 500."""

    def __init__(self, app: "WSGIApplication") -> None:
        self.app = app

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        sent = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = sent if _VALID_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = "500"
        response_started = False

        def start_with_request_id(
            status_line: str, headers: list[tuple[str, str]], exc_info: "OptExcInfo | None" = None
        ) -> Callable[[bytes], object]:
            nonlocal status, response_started
            response_started = True
            status = status_line.split(" ", 1)[0]
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status_line, headers, exc_info)

        try:
            return self.app(environ, start_with_request_id)
        except Exception:
            logger.exception(
                "Unhandled error on %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"]
            )
            if response_started:
                raise
            response = problem_response(500, SERVER_ERROR_DETAIL)
            return response(environ, start_with_request_id)
        finally:
            logger.info(
                '"%s %s" %s in %.1f ms',
                environ["REQUEST_METHOD"],
                environ["PATH_INFO"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over the limit, by Content-Length or while a chunked body comes in.

    Flask's MAX_CONTENT_LENGTH refuses a declared length over the limit, but it reads a chunked
    body only up to the limit and hands the view a truncated body. Here such a body is buffered
    (never more than the limit plus one byte) and refused whole when it is too large.
    """

    def __init__(self, app: "WSGIApplication", max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        declared = environ.get("CONTENT_LENGTH", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            return self._too_large(environ, start_response)
        # Servers that de-chunk the body (gunicorn, Werkzeug's) set wsgi.input_terminated.
        if not declared and environ.get("wsgi.input_terminated"):
            body = self._read_at_most(environ["wsgi.input"], self.max_body_size + 1)
            if len(body) > self.max_body_size:
                return self._too_large(environ, start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    @staticmethod
    def _read_at_most(stream: io.RawIOBase, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = stream.read(min(_READ_SIZE, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    def _too_large(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        detail = f"The request body is larger than {self.max_body_size} bytes."
        return problem_response(413, detail)(environ, start_response)


class SecurityHeadersMiddleware:
    """Headers every response carries; HSTS only when the service is served over TLS."""

    def __init__(self, app: "WSGIApplication", hsts_seconds: int = 0) -> None:
        self.app = app
        self.headers = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        }
        if hsts_seconds:
            self.headers["Strict-Transport-Security"] = f"max-age={hsts_seconds}; includeSubDomains"

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        def start_with_headers(
            status_line: str, headers: list[tuple[str, str]], exc_info: "OptExcInfo | None" = None
        ) -> Callable[[bytes], object]:
            present = {name.lower() for name, _ in headers}
            headers.extend(
                (name, value) for name, value in self.headers.items() if name.lower() not in present
            )
            return start_response(status_line, headers, exc_info)

        return self.app(environ, start_with_headers)


class TrustedProxyMiddleware:
    """The client's address from X-Forwarded-For, only when a trusted proxy sent the request.

    Trust is FORWARDED_ALLOW_IPS, as uvicorn and gunicorn read it: addresses, networks or `*`.
    The address the trusted proxy appended (the last one) is the client's.
    """

    def __init__(self, app: "WSGIApplication", trusted: Iterable[str]) -> None:
        self.app = app
        self.forwarded = ProxyFix(app, x_for=1)
        self.trust_all = "*" in trusted
        self.networks = [ipaddress.ip_network(ip, strict=False) for ip in trusted if ip != "*"]

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        if self.is_trusted(environ.get("REMOTE_ADDR", "")):
            return self.forwarded(environ, start_response)
        return self.app(environ, start_response)

    def is_trusted(self, address: str) -> bool:
        if self.trust_all:
            return True
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.networks)
