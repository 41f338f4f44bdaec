"""One transaction per request, committed with its answer.

A route's session (`service.api.deps.SessionDep`) is committed here, when the route has
returned and its answer is about to leave, before anything is sent: so a failed commit can
never follow an acknowledged request (it is answered 500 instead, and the caller retries). A
request that carries an `Idempotency-Key` stores its answer in the same transaction as its
effects, so that a crash or a connection cut after the commit (its acknowledgement lost) can
never let a retry with the key run the request a second time: the retry finds the answer
committed with the effects and replays it. A route that raises commits nothing: its session
is rolled back before the error is answered.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem_response
from service.kit.request_keys import IdempotencyRecord

log = logging.getLogger("tuitionguard.transactions")

SESSION = "session"  # scope["state"] entry: the route's session, while it may be committed
KEPT = "idempotency"  # scope["state"] entry: (caller, key, claim token) of a claimed key


def storable(status: int) -> bool:
    """Answers an `Idempotency-Key` keeps: not a server error (retryable), nor a refusal of
    the caller's credential (not this caller's to keep)."""
    return status < 500 and status not in (401, 403)


def keep_claim(scope: MutableMapping[str, Any], caller: str, key: str, token: str) -> None:
    """What the idempotency middleware tells the route: the key it claimed for the request."""
    scope.setdefault("state", {})[KEPT] = (caller, key, token)


class CommitMiddleware:
    """Commits the route's session as its answer leaves: at the start of the answer, or, for a
    request with a claimed key, once the whole body is known (to keep it with the effects)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        held: list[Message] = []
        replaced = False  # the commit failed and a 503 went out instead of the route's answer

        async def commit_then_send(message: Message) -> None:
            nonlocal replaced
            if replaced:  # the rest of the answer the 503 replaced (its body after its start)
                return
            session: Session | None = state.get(SESSION)
            if session is None:  # no session, or committed already: pass through
                await send(message)
                return
            held.append(message)
            kept = state.get(KEPT)
            whole = message["type"] == "http.response.body" and not message.get("more_body")
            if kept is not None and not whole:
                return  # the body is kept with the effects: wait for all of it
            state[SESSION] = None
            try:
                await run_in_threadpool(_commit, session, kept, held)
            except Exception:
                log.exception("the request's commit failed; answered 503")
                await problem_response("unavailable", "the change could not be saved; retry")(
                    scope, receive, send
                )
                held.clear()
                replaced = True
                return
            for m in held:
                await send(m)
            held.clear()

        await self.app(scope, receive, commit_then_send)


def _commit(session: Session, kept: tuple[str, str, str] | None, held: list[Message]) -> None:
    start = next(m for m in held if m["type"] == "http.response.start")
    status = int(start["status"])
    if kept is not None and storable(status):
        caller, key, token = kept
        content_type = next(
            (
                v.decode("latin-1")
                for k, v in start.get("headers", [])
                if k.lower() == b"content-type"
            ),
            None,
        )
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        session.execute(
            update(IdempotencyRecord)
            .where(
                IdempotencyRecord.caller == caller,
                IdempotencyRecord.key == key,
                IdempotencyRecord.claim == token,
            )
            .values(status_code=status, content_type=content_type, body=body, claim=None,
                    locked_until=None)
        )  # fmt: skip
    session.commit()
