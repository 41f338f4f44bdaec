"""How a page says how a form went: a note the server wrote, carried to the next page in a
short-lived cookie sealed with the server key, and shown once.

Nothing in a request is ever shown as a message: a `?problem=` or `?done=` in a link was
read as an official notice (an attacker's "transfer your fees to this new account" on the
unauthenticated sign-in page). The note is not in the address either, so an anchor (`#refund`)
after the redirect keeps it. A cookie the server did not seal (another site's, a subdomain's)
is ignored."""

from __future__ import annotations

import base64
import hmac
import json
import math
from typing import Literal

from fastapi.responses import RedirectResponse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from service.kit.ids import keyed_hash
from service.kit.replica import WROTE_COOKIE

COOKIE = "tg_note"
LIFETIME_SECONDS = 120  # the redirect is followed at once; a note left behind is soon gone
MAX_TEXT = 600  # characters: the sealed cookie stays far below the 4 KB browsers keep
Kind = Literal["done", "problem"]


def seal(secret: str, kind: Kind, text: str) -> str:
    body = base64.urlsafe_b64encode(
        json.dumps({"k": kind, "t": text[:MAX_TEXT]}, ensure_ascii=False).encode()
    ).decode()
    return f"{body}.{_mac(secret, body)}"


def unseal(secret: str, value: str | None) -> tuple[Kind, str] | None:
    """The note, if this server sealed it; else nothing."""
    body, _, mac = (value or "").partition(".")
    if not body or not hmac.compare_digest(mac.encode(), _mac(secret, body).encode()):
        return None
    try:
        note = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    if not isinstance(note, dict):
        return None
    kind, text = note.get("k"), note.get("t")
    if kind not in ("done", "problem") or not isinstance(text, str):
        return None
    return kind, text


def _mac(secret: str, body: str) -> str:
    return keyed_hash(secret, f"page-note:{body}")[:32]


class Back(RedirectResponse):
    """A 303 back to a page, with the server's note for it. The note is sealed when the
    answer is sent, where the app (and so the server key) is known."""

    def __init__(self, to: str, note: tuple[Kind, str] | None) -> None:
        super().__init__(to, status_code=303)
        self.note = note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reads = scope["app"].state.reads
        if reads.configured:  # this browser wrote: its next pages read the primary
            self.set_cookie(WROTE_COOKIE, "1", max_age=max(1, math.ceil(reads.max_lag_seconds)),
                            httponly=True, samesite="lax", path="/",
                            secure=scope.get("scheme") == "https")  # fmt: skip
        if self.note is not None:
            secret = scope["app"].state.settings.secret_key
            self.set_cookie(COOKIE, seal(secret, *self.note), max_age=LIFETIME_SECONDS,
                            httponly=True, samesite="lax", path="/",
                            secure=scope.get("scheme") == "https")  # fmt: skip
        await super().__call__(scope, receive, send)


def take(request: Request) -> tuple[Kind, str] | None:
    """The note this request brings (read once: `forget` it on the page sent)."""
    return unseal(request.app.state.settings.secret_key, request.cookies.get(COOKIE))


def forget(request: Request, response: Response) -> None:
    if COOKIE in request.cookies:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax",
                               secure=request.url.scheme == "https")  # fmt: skip
