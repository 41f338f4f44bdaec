"""Per-caller rate limits: a token bucket per caller, refilled at `rate` a second up to
`burst`; a request that finds it empty is 429 `rate_limited` with `Retry-After`, before any
work.

Whose bucket a request spends is decided before the request runs, so nothing it merely claims
can choose it: a made-up bearer token or `X-Bank-Id` would otherwise be a fresh bucket per
request (issue 31, finding 1). A request spends the bucket of its authenticated caller only
once that claim has authenticated: the guards of `service.api.auth` vouch for a claim (a
bearer credential's hash, a bank id at the address it calls from) when it checks, and the
claim stays vouched for `VOUCHED_SECONDS` after its last success. Anything else — no
credential, a credential never seen to authenticate, a forged one — spends its client
address's bucket. So a credential's first request (and its first after a quiet spell) counts
against its address; every later one against the caller, whatever others at its address do.

The pages' sessions are authenticated callers too: a request carrying the workbench's or the
parent's session cookie claims that session (by the cookie's hash), and the pages' guards
vouch for it when it checks, and at sign-in for the cookie they set. Without this every page
request spent its address's bucket, so a flood from a parent's mobile network or a
regulator's office held every signed-in page there at 429.

Callers are keyed by kind (`regulator:…`, `institution:…`, `bank:…`, `parent:…`, `addr:…`)
so that each kind may be given its own limit (`limits`, from the setting `RATE_LIMITS`, e.g.
`bank=20/200`); the kinds it does not name get `RATE_LIMIT_PER_SECOND`/`RATE_LIMIT_BURST`.

Buckets live in the process: with several server processes each keeps its own (the limit is
per process, which bounds a runaway client all the same)."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.problems import problem_response
from service.kit.net import address_key

MAX_CALLERS = 100_000  # buckets and vouched claims kept; the least recently used are forgotten
VOUCHED_SECONDS = 600.0  # a claim that has not authenticated for this long is a stranger again
KINDS = ("regulator", "institution", "bank", "parent", "addr")
# The pages' session cookies, by the paths they are sent to: the parent's (scoped to /parent)
# and the workbench's.
PARENT_COOKIE, WORKBENCH_COOKIE = "tg_parent", "tg_session"


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens a second
    burst: float  # the most a bucket holds


def parse_limits(text: str) -> dict[str, Limit]:
    """`kind=rate/burst,…` (the setting `RATE_LIMITS`) as limits by kind of caller."""
    limits: dict[str, Limit] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, numbers = part.partition("=")
        rate, _, burst = numbers.partition("/")
        if kind not in KINDS:
            raise ValueError(f"RATE_LIMITS: no kind of caller {kind!r} (kinds: {', '.join(KINDS)})")
        try:
            limit = Limit(float(rate), float(burst))
        except ValueError:
            limit = Limit(0, 0)
        if not (limit.rate > 0 and limit.burst >= 1):
            raise ValueError(
                f"RATE_LIMITS: {part!r} needs kind=rate/burst, a rate above 0, a burst of 1 or more"
            )
        limits[kind] = limit
    return limits


def claim_of(scope: Scope) -> str | None:
    """What the request says it is, before anything checked it: a bearer credential (by its
    hash: only its holder has it) or a bank id at the address it calls from."""
    headers = dict(scope.get("headers", []))
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return "bearer:" + hashlib.sha256(token.strip()).hexdigest()[:32]
    bank = headers.get(b"x-bank-id", b"")[:64]
    if bank:
        return f"bank:{bank.decode('latin-1')}@{address_of(scope)}"
    cookie = headers.get(b"cookie")
    if cookie:
        name = PARENT_COOKIE if scope.get("path", "").startswith("/parent") else WORKBENCH_COOKIE
        value = cookie_parser(cookie.decode("latin-1")).get(name)
        if value:
            return session_claim(value)
    return None


def session_claim(cookie: str) -> str:
    """The claim of a page session's cookie (by its hash: only its holder has it)."""
    return "session:" + hashlib.sha256(cookie.encode("utf-8", "replace")).hexdigest()[:32]


def address_of(scope: Scope) -> str:
    """The client's address, an IPv6 one by its /64 (service.kit.net.address_key)."""
    return address_key((scope.get("client") or ("?", 0))[0])


class Vouched:
    """Claims seen to authenticate recently, and the caller each one proved to be."""

    def __init__(self, ttl: float = VOUCHED_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.clock = ttl, clock
        self.lock = threading.Lock()
        self.held: OrderedDict[str, tuple[str, float]] = OrderedDict()  # claim → caller, when

    def vouch(self, scope: Scope, caller: str) -> None:
        """Called by a guard once the request's credential checked (`caller`: `kind:id`)."""
        claim = claim_of(scope)
        if claim is not None:
            self.vouch_claim(claim, caller)

    def vouch_claim(self, claim: str, caller: str) -> None:
        """For a claim the request does not carry yet: the session cookie a sign-in sets."""
        with self.lock:
            self.held.pop(claim, None)
            self.held[claim] = (caller, self.clock())
            if len(self.held) > MAX_CALLERS:
                self.held.popitem(last=False)

    def caller(self, claim: str) -> str | None:
        with self.lock:
            found = self.held.get(claim)
            if found is None:
                return None
            if self.clock() - found[1] > self.ttl:
                del self.held[claim]
                return None
            return found[0]


def bucket_key(scope: Scope, vouched: Vouched) -> str:
    """The authenticated caller a vouched claim proved to be; else the client's address."""
    claim = claim_of(scope)
    caller = vouched.caller(claim) if claim is not None else None
    return caller or f"addr:{address_of(scope)}"


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
    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        burst: float,
        vouched: Vouched,
        limits: Mapping[str, Limit] | None = None,
    ) -> None:
        """`rate`/`burst` for every kind of caller, unless `limits` names that kind's own."""
        self.app = app
        self.vouched = vouched
        given = limits or {}
        self.buckets: dict[str, Buckets] = {}
        for kind in KINDS:
            limit = given.get(kind, Limit(rate, burst))
            if limit.rate > 0:
                self.buckets[kind] = Buckets(limit.rate, limit.burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.buckets or scope["type"] != "http" or _exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = bucket_key(scope, self.vouched)
        buckets = self.buckets.get(key.partition(":")[0])
        wait = buckets.take(key) if buckets is not None else 0.0
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
