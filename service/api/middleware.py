"""Plain ASGI middleware, cheap on the hot path (no extra task per request):

- `RequestContextMiddleware` (outermost): request ids, access logs, Prometheus metrics labelled
  by route template, response headers (no-store, HSTS behind TLS), and the last guard: an
  unexpected error is logged once and answered as a problem, never a bare 500 page.
- `RequestGuardMiddleware`: refuses before any work what no endpoint can take: control
  characters in the path or query, a query parameter given twice, bodies over their cap (413),
  API bodies that are not JSON (415).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

from prometheus_client import Counter, Histogram
from sqlalchemy import exc as db_errors
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.logging import request_id_var
from service.api.problems import problem_response

log = logging.getLogger("tuitionguard.access")
crash_log = logging.getLogger("tuitionguard.http")

REQUESTS = Counter("tg_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "tg_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
UNMATCHED = "unmatched"
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
NO_STORE = (b"cache-control", b"no-store")


def route_label(scope: Scope) -> str:
    """The template of the route that answered (`/api/v1/enrollments/{enrollment_id}`), so
    metrics have bounded cardinality whatever paths are asked for; every path no route
    matched shares one label."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    # An included router's route knows its path without the prefix it is served under.
    actual = scope["path"].rstrip("/").split("/")
    tail = template.rstrip("/").split("/")
    prefix = "/".join(actual[: max(len(actual) - len(tail) + 1, 1)])
    return prefix + template


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _SAFE_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        start = time.perf_counter()
        state: dict[str, Any] = {"code": 500, "started": False}
        extra = [(b"x-request-id", rid.encode())]
        if scope.get("scheme") == "https":
            extra.append(HSTS)
        cacheable = scope["path"].startswith(("/static/", "/docs/assets/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["code"], state["started"] = message["status"], True
                headers = list(message.get("headers", []))
                if not cacheable and not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append(NO_STORE)
                message["headers"] = headers + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # The one place an unexpected error is logged (once; bound values never, see
            # service.kit.db) and answered: as a problem, if nothing was sent yet.
            if _transient(exc):
                cause = type(getattr(exc, "orig", None) or exc).__name__
                crash_log.warning(
                    "database unavailable on %s %s: %s", scope["method"], scope["path"], cause
                )
                response = problem_response(
                    "unavailable", "database unavailable: retry", headers={"Retry-After": "1"}
                )
            else:
                crash_log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                response = problem_response("internal_error", "an unexpected error was logged")
            if not state["started"]:
                await response(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - start
            route = route_label(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            REQUESTS.labels(method, route, str(state["code"])).inc()
            LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"][:200],
                    "status": state["code"],
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


def _transient(exc: BaseException) -> bool:
    """A database fault a retry can outlive, the request's transaction rolled back (nothing of
    it happened): the connection lost or refused, the server restarting, a deadlock or a
    serialization failure the server broke, the connection pool exhausted. A 503 with
    `Retry-After` tells the caller so; a 500 would say the service is broken."""
    if isinstance(exc, db_errors.TimeoutError) or getattr(exc, "connection_invalidated", False):
        return True
    if not isinstance(exc, db_errors.OperationalError):
        return False
    # SQLite files its own mistakes (no such table, no such column) as operational errors too:
    # only a busy or locked database, or one it cannot open or read, is a fault to wait out.
    name = getattr(exc.orig, "sqlite_errorname", None)
    return name is None or name.startswith(SQLITE_TRANSIENT)


SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


# C0, DEL and C1 (U+0080–U+009F, two bytes in UTF-8): what `openapi_doc.PARAM_TEXT` tells
# clients a path or query may not hold. Bytes alone saw only C0 and DEL, so a C1 character was
# taken by a filter the document said refuses it.
_CONTROL_TEXT = re.compile("[\x00-\x1f\x7f-\x9f]")


def _has_control(raw: bytes) -> bool:
    return _CONTROL_TEXT.search(raw.decode("utf-8", "replace")) is not None


def _repeated(query: bytes) -> str | None:
    """A query parameter named more than once, if any."""
    seen: set[str] = set()
    for name, _value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name
        seen.add(name)
    return None


class RequestGuardMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body: int, larger: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if _has_control(scope["path"].encode("utf-8", "replace")) or _has_control(
            unquote_to_bytes(query.replace(b"+", b" "))
        ):
            detail = "the path or query holds a control character"
            await problem_response("validation_error", detail)(scope, receive, send)
            return
        twice = _repeated(query)
        if twice:  # every query parameter of this API is one value: which one would count?
            detail = f"the query parameter {twice!r} is given more than once"
            await problem_response("validation_error", detail)(scope, receive, send)
            return
        headers = dict(scope["headers"])
        cap = self.larger.get(scope["path"], self.max_body)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await _too_large(cap)(scope, receive, send)
            return
        has_body = declared not in (b"", b"0") or b"transfer-encoding" in headers
        if has_body and _wrong_media(scope["path"], headers):
            detail = "send the body as application/json"
            await problem_response("unsupported_media_type", detail)(scope, receive, send)
            return
        await self._capped(scope, receive, send, cap)

    async def _capped(self, scope: Scope, receive: Receive, send: Send, cap: int) -> None:
        """Run the app; a body that grows past `cap` while read (no Content-Length, or a false
        one) ends the read as a disconnect, and the answer is 413 instead of the app's."""
        seen, over, started = 0, False, False

        async def read() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, read, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _too_large(cap)(scope, receive, send)


def _wrong_media(path: str, headers: dict[bytes, bytes]) -> bool:
    if not path.startswith("/api/"):
        return False
    kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return not (kind == b"application/json" or kind.endswith(b"+json"))


def _too_large(cap: int) -> Any:
    return problem_response("payload_too_large", f"the body is over {cap} bytes")
