"""A commit that fails as the answer starts (the database lost mid-request, as in a failover:
bench/failover.py) is answered 503 `unavailable`, once: the rest of the route's answer is
dropped, not sent after the 503 (which ASGI servers refuse with an error of their own)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from service.api.transactions import SESSION, CommitMiddleware


class LostSession:
    def commit(self) -> None:
        raise ConnectionError("server closed the connection unexpectedly")


async def route(scope: Scope, receive: Receive, send: Send) -> None:
    scope["state"][SESSION] = LostSession()
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b'{"id": "x"}'})


def test_a_failed_commit_answers_503_once_and_drops_the_rest() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        if sent and sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body"):
            raise RuntimeError("Unexpected ASGI message sent, after response already completed.")
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope: dict[str, Any] = {"type": "http", "method": "POST", "path": "/x", "headers": [],
                             "state": {}}  # fmt: skip
    asyncio.run(CommitMiddleware(route)(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [503]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["code"] == "unavailable"
