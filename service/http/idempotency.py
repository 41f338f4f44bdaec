"""`Idempotency-Key` on POST (API.md "Idempotency").

The first request with a key claims it before running; its response (any status below 500) is
stored and replayed, byte for byte, for the same key and the same request. The same key with
another request is 409 `idempotency_conflict`; while the first is still running, 409
`idempotency_in_progress`. A 5xx releases the key so the client can retry. Keys are scoped to
the caller's credential and kept for `idempotency_retention_days`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.db import session_scope
from service.http.problems import problem_response
from service.idempotency_models import IdempotencyRecord

MAX_KEY_LENGTH = 255


def _caller(headers: dict[bytes, bytes]) -> str:
    if b"x-bank-id" in headers:
        return "bank:" + headers[b"x-bank-id"].decode("latin-1")[:60]
    auth = headers.get(b"authorization", b"")
    return "auth:" + hashlib.sha256(auth).hexdigest()[:40] if auth else "anonymous"


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        retention: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.retention = retention
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            response = problem_response(
                "validation_error", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
            )
            await response(scope, receive, send)
            return

        body = await _read_body(receive)
        digest = hashlib.sha256()
        for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
            digest.update(part.encode() + b"\x1f")
        digest.update(body)
        caller = _caller(headers)
        outcome, record = await run_in_threadpool(self._claim, caller, key, digest.hexdigest())
        if outcome == "replay":
            assert record is not None
            await _send_stored(send, record)
            return
        if outcome in ("idempotency_conflict", "idempotency_in_progress"):
            detail = (
                "this Idempotency-Key was used with a different request"
                if outcome == "idempotency_conflict"
                else "a request with this Idempotency-Key is still being processed"
            )
            await problem_response(outcome, detail)(scope, receive, send)
            return

        captured: dict[str, object] = {"status": 500, "type": None, "body": b""}
        body_sent = False

        async def replay_receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        captured["type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                captured["body"] = bytes(captured["body"]) + message.get("body", b"")  # type: ignore[arg-type]
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        finally:
            await run_in_threadpool(self._finish, caller, key, captured)

    def _claim(
        self, caller: str, key: str, request_hash: str
    ) -> tuple[str, IdempotencyRecord | None]:
        now = self.clock()
        with session_scope(self.sessions) as s:
            rec = s.get(IdempotencyRecord, (caller, key))
            if rec is not None and rec.created_at < now - self.retention:
                s.delete(rec)
                s.flush()
                rec = None
            if rec is None:
                s.add(
                    IdempotencyRecord(
                        caller=caller, key=key, request_hash=request_hash, created_at=now
                    )
                )
                try:
                    s.flush()
                except IntegrityError:
                    return "idempotency_in_progress", None
                return "new", None
            if rec.request_hash != request_hash:
                return "idempotency_conflict", None
            if rec.status_code is None:
                return "idempotency_in_progress", None
            s.expunge(rec)
            return "replay", rec

    def _finish(self, caller: str, key: str, captured: dict[str, object]) -> None:
        status = int(captured["status"])  # type: ignore[call-overload]
        with session_scope(self.sessions) as s:
            rec = s.get(IdempotencyRecord, (caller, key))
            if rec is None:
                return
            if status >= 500:
                s.delete(rec)
                return
            rec.status_code = status
            rec.content_type = captured["type"]  # type: ignore[assignment]
            rec.body = captured["body"]  # type: ignore[assignment]


def purge_expired(session: Session, *, now: datetime, retention: timedelta) -> int:
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - retention)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send_stored(send: Send, record: IdempotencyRecord) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if record.content_type:
        headers.append((b"content-type", record.content_type.encode("latin-1")))
    body = record.body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["IdempotencyMiddleware", "purge_expired"]
