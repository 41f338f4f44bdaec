"""`Idempotency-Key` on POST (docs/api.md "Conventions").

Keys belong to the authenticated caller: a bank whose signature checks, or the holder of a
bearer credential. A request with no credential, or with a bank signature that does not
check, is passed through with no key kept, and a request that fails authentication (401/403)
stores nothing, so no one can take a bank's key before it is used.

The first request with a key claims it for a short lease, renewed while it runs. Its response
(any status below 500 but 401 and 403) is stored before it is sent, so a retry that follows the
answer finds it; the same key and the same request then get the first response again, byte for
byte; the same key with another request is 409 `idempotency_conflict`. A request that arrives
while the first is still running waits for its answer (up to `wait`) and gets it too; if the
first has died (its process was killed mid-request), its lease lapses and the next request
with the key runs instead. A 5xx releases the key so the client can retry. Keys are kept for
`idempotency_retention_days`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.admission import beside_the_request
from service.api.problems import problem_response
from service.api.transactions import keep_claim, storable
from service.kit.db import session_scope
from service.kit.request_keys import IdempotencyRecord

log = logging.getLogger("tuitionguard.idempotency")

MAX_KEY_LENGTH = 255
# (headers, method, path and query, body) -> the authenticated caller's namespace, or None.
Identify = Callable[[dict[bytes, bytes], str, str, bytes], str | None]


@dataclass(frozen=True)
class Claim:
    outcome: Literal["new", "replay", "conflict", "busy"]
    token: str | None = None
    record: IdempotencyRecord | None = None


def _wall() -> datetime:
    # Leases are about live processes, not business time: always the real clock.
    return datetime.now(UTC)


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        retention: timedelta,
        clock: Callable[[], datetime],
        identify: Identify,
        lease: timedelta = timedelta(seconds=30),
        wait: timedelta = timedelta(seconds=10),
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.retention = retention
        self.clock = clock
        self.identify = identify
        self.lease = lease
        self.wait = wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", []))
        raw_key = headers.get(b"idempotency-key")
        if scope["type"] != "http" or scope["method"] != "POST" or raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            detail = f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters"
            await problem_response("validation_error", detail)(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replayer(body, receive)
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"] + (f"?{query}" if query else "")
        caller = await run_in_threadpool(self.identify, headers, scope["method"], path, body)
        if caller is None:  # no credential that checks: nothing is kept for it
            await self.app(scope, replay, send)
            return
        digest = hashlib.sha256(f"{scope['method']}\x1f{path}\x1f".encode() + body).hexdigest()
        claim = await self._await_claim(caller, key, digest)
        if claim.outcome == "replay":
            assert claim.record is not None
            await _send_stored(send, claim.record)
        elif claim.outcome == "conflict":
            detail = "this Idempotency-Key was used with a different request"
            await problem_response("idempotency_conflict", detail)(scope, receive, send)
        elif claim.outcome == "busy":
            detail = "a request with this Idempotency-Key is still being processed"
            await problem_response("idempotency_in_progress", detail)(scope, receive, send)
        else:
            assert claim.token is not None
            keep_claim(scope, caller, key, claim.token)
            await self._run(scope, replay, send, caller, key, claim.token)

    async def _await_claim(self, caller: str, key: str, digest: str) -> Claim:
        """Claim the key, or wait while another live request holds it."""
        deadline = _wall() + self.wait
        pause = 0.02
        while True:
            claim = await run_in_threadpool(self._claim, caller, key, digest)
            if claim.outcome != "busy" or _wall() >= deadline:
                return claim
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    def _claim(self, caller: str, key: str, digest: str) -> Claim:
        now, wall, token = self.clock(), _wall(), os.urandom(12).hex()
        with session_scope(self.sessions) as s:
            dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
            s.execute(
                dialect.insert(IdempotencyRecord)
                .values(
                    caller=caller,
                    key=key,
                    request_hash=digest,
                    created_at=now,
                    claim=token,
                    locked_until=wall + self.lease,
                )
                .on_conflict_do_nothing(index_elements=["caller", "key"])
            )
            rec = s.scalars(
                select(IdempotencyRecord)
                .where(IdempotencyRecord.caller == caller, IdempotencyRecord.key == key)
                .with_for_update()
            ).one()
            if rec.claim == token:
                return Claim("new", token)
            if rec.created_at < now - self.retention:  # forgotten: the key starts afresh
                rec.request_hash, rec.created_at = digest, now
                rec.status_code = rec.content_type = rec.body = None
            elif rec.request_hash != digest:
                return Claim("conflict")
            elif rec.status_code is not None:
                s.expunge(rec)
                return Claim("replay", record=rec)
            elif rec.locked_until is not None and rec.locked_until > wall:
                return Claim("busy")
            rec.claim, rec.locked_until = token, wall + self.lease  # its request died: take over
            return Claim("new", token)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, caller: str, key: str, token: str
    ) -> None:
        held: list[Message] = []
        status = 500
        settled = False

        async def hold_then_send(message: Message) -> None:
            nonlocal status, settled
            held.append(message)
            if message["type"] == "http.response.start":
                status = int(message["status"])
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # Stored before the answer leaves, so a retry that follows it replays it.
                await run_in_threadpool(self._finish, caller, key, token, status, held)
                settled = True
                for m in held:
                    await send(m)
                held.clear()

        heartbeat = asyncio.create_task(self._renew(caller, key, token))
        try:
            await self.app(scope, receive, hold_then_send)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            if not settled:
                await run_in_threadpool(self._release, caller, key, token)

    async def _renew(self, caller: str, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await beside_the_request(self._extend, caller, key, token)

    def _mine(self, caller: str, key: str, token: str) -> tuple[ColumnElement[bool], ...]:
        return (
            IdempotencyRecord.caller == caller,
            IdempotencyRecord.key == key,
            IdempotencyRecord.claim == token,
        )

    def _extend(self, caller: str, key: str, token: str) -> None:
        with session_scope(self.sessions) as s:
            s.execute(
                update(IdempotencyRecord)
                .where(*self._mine(caller, key, token))
                .values(locked_until=_wall() + self.lease)
            )

    def _release(self, caller: str, key: str, token: str) -> None:
        with session_scope(self.sessions) as s:
            s.execute(delete(IdempotencyRecord).where(*self._mine(caller, key, token)))

    def _finish(
        self, caller: str, key: str, token: str, status: int, messages: list[Message]
    ) -> None:
        """Keep the answer, unless the route kept it already with its effects (then the claim
        is no longer this token's, and nothing here matches)."""
        if not storable(status):
            self._release(caller, key, token)
            return
        content_type = None
        for name, value in next(m for m in messages if m["type"] == "http.response.start").get(
            "headers", []
        ):
            if name.lower() == b"content-type":
                content_type = value.decode("latin-1")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        with session_scope(self.sessions) as s:
            s.execute(
                update(IdempotencyRecord)
                .where(*self._mine(caller, key, token))
                .values(
                    status_code=status,
                    content_type=content_type,
                    body=body,
                    claim=None,
                    locked_until=None,
                )
            )


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


def _replayer(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A `receive` that hands the app the body already read, then the real channel."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_stored(send: Send, record: IdempotencyRecord) -> None:
    headers = [(b"idempotent-replayed", b"true")]
    if record.content_type:
        headers.append((b"content-type", record.content_type.encode("latin-1")))
    body = record.body or b""
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": record.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["IdempotencyMiddleware", "Identify"]
