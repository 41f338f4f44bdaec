"""Per-caller rate limits: a token bucket per caller, refilled at `rate` a second up to
`burst`; a request that finds it empty is 429 `rate_limited` with `Retry-After`, before any
work. The caller is who the request says it is, keyed so that no one can spend another's
budget: a bearer credential by its hash (only its holder has it), a bank by its id and the
address it calls from (a forger elsewhere spends only his own), anyone else by address.

Buckets live in the process: with several server processes each keeps its own (the limit is
per process, which bounds a runaway client all the same)."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.problems import problem_response

MAX_CALLERS = 100_000  # buckets kept; the least recently used are forgotten


def caller_key(scope: Scope) -> str:
    headers = dict(scope.get("headers", []))
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return "auth:" + hashlib.sha256(token.strip()).hexdigest()[:32]
    peer = (scope.get("client") or ("?", 0))[0]
    bank = headers.get(b"x-bank-id", b"")[:64]
    if bank:
        return f"bank:{bank.decode('latin-1')}@{peer}"
    return f"addr:{peer}"


class Buckets:
    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.lock = threading.Lock()
        self.held: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → tokens, when

    def take(self, key: str) -> float:
        """0 if the caller may go now; else the seconds until a token is back."""
        now = self.clock()
        with self.lock:
            tokens, then = self.held.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self.held[key] = (tokens - 1 if wait == 0 else tokens, now)
            if len(self.held) > MAX_CALLERS:
                self.held.popitem(last=False)
        return wait


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, rate: float, burst: float) -> None:
        self.app = app
        self.buckets = Buckets(rate, burst) if rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(caller_key(scope))
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            detail = f"too many requests from this caller; retry in {seconds} s"
            await problem_response(
                "rate_limited", detail, headers={"Retry-After": str(seconds)}, retry_after=seconds
            )(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _exempt(path: str) -> bool:
    """Operations endpoints (probes and scrapes) and static assets are never limited."""
    return path in ("/healthz", "/readyz", "/metrics") or path.startswith("/static/")
