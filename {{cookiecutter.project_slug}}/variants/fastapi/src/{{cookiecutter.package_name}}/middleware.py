"""ASGI middleware: request ids, security headers, access logs, the last-resort 500 and the
body size limit."""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import problem_response
from .logs import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContextMiddleware:
    """One pass around every request: its id (echoed or generated), the security headers,
    the access log line, and a 500 for anything that crashed."""

    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if hsts_seconds:
            hsts = f"max-age={hsts_seconds}; includeSubDomains".encode()
            headers.append((b"strict-transport-security", hsts))
        self.security_headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                present = {name for name, _ in headers.raw}
                headers.raw.extend(
                    header for header in self.security_headers if header[0] not in present
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("Unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise
            response = problem_response(500, "The server could not complete the request.")
            await response(scope, receive, send_with_headers)
        finally:
            if logger.isEnabledFor(logging.INFO):
                milliseconds = (time.perf_counter() - started) * 1000
                logger.info(
                    '"%s %s" %s in %.1f ms', scope["method"], scope["path"], status, milliseconds
                )
            request_id_var.reset(token)


def _request_id(scope: Scope) -> str:
    """The caller's X-Request-ID if it is a sane one, else a new id."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            sent = value.decode("latin-1")
            return sent if _VALID_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    return uuid.uuid4().hex


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over the limit, by Content-Length or while streaming in."""

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_size:
            await self._too_large()(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body is larger than {self.max_body_size} bytes."

    def _too_large(self) -> ASGIApp:
        return problem_response(413, self._detail(), headers={"Connection": "close"})
