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

A bank's id is no secret: only its signature, checked by the bank's guard over the body,
proves who sends it. So a request claiming a bank vouched for at its address is not charged
up front: the guard charges the bank it proved (429 there once the bank's budget is spent),
and a request whose signature fails, or that meets no bank's guard, is charged to its
address after its answer. A forger at the bank's own address (or an unsigned probe) spends
that address's budget, never the bank's, and is told 401, not the bank's 429 (issue 31's
limiter leftovers: before, `bank:ID@address` chose the bucket before the signature checked).

A parent signing in with the access code (`SIGN_INS`) has no credential yet: such a request
spends its address's bucket, but one that finds it empty still goes on, marked as over the
address's budget (`over_address_budget`), so that the right code is admitted whatever others
on the address did (issue 31, finding 11) and only a wrong one is 429 `rate_limited`.
Guessing is bounded by the code's length (docs/security.md), not by the address's budget.

Callers are keyed by kind (`regulator:…`, `institution:…`, `bank:…`, `parent:…`, `addr:…`)
so that each kind may be given its own limit (`limits`, from the setting `RATE_LIMITS`, e.g.
`bank=20/200`); the kinds it does not name get `RATE_LIMIT_PER_SECOND`/`RATE_LIMIT_BURST`.

Buckets live in the process: with several server processes each keeps its own (the limit is
per process, which bounds a runaway client all the same)."""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import cookie_parser
from starlette.responses import Response
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


# The sign-ins that take a secret and admit the right one whatever the address did: the
# parent's access code, over the API and on the parent's page, and that page's form (the
# link an institution hands out; it reads nothing).
SIGN_INS = frozenset({("POST", "/api/v1/parent/sessions"), ("POST", "/parent/sign-in")})
SIGN_IN_FORM = re.compile(r"/parent/e/[^/]+")
# Where the middleware leaves, in the request's state, what a guard or a sign-in reads.
CHARGE, OVER = "rate_charge", "over_address_budget"


def claim_of(scope: Scope) -> str | None:
    """What the request says it is, before anything checked it: a bearer credential (by its
    hash: only its holder has it) or a bank id at the address it calls from."""
    headers = dict(scope.get("headers", []))
    scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and token.strip():
        return bearer_claim(token.strip())
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


def bearer_claim(token: str | bytes) -> str:
    """The claim of a bearer credential (by its hash: only its holder has it)."""
    raw = token.encode("utf-8", "replace") if isinstance(token, str) else token
    return "bearer:" + hashlib.sha256(raw).hexdigest()[:32]


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
    """The authenticated caller a vouched claim proved to be; else the client's address. A
    bank's is only where to look: its guard charges it once the signature checks (`Charge`)."""
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


class Charge:
    """A request whose bucket only its authentication can name (a bank's): the guard that
    proves the caller charges it (`caller`); if none does, the address pays after the answer."""

    def __init__(self, limiter: RateLimitMiddleware, address: str) -> None:
        self.limiter, self.address, self.spent = limiter, address, False

    def caller(self, key: str) -> float:
        """Charge the authenticated caller: 0, or the seconds until its bucket has a token."""
        self.spent = True
        return self.limiter.take(key)

    def settle(self) -> None:
        if not self.spent:
            self.spent = True
            self.limiter.take(self.address)


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
        key, address = bucket_key(scope, self.vouched), f"addr:{address_of(scope)}"
        if key.startswith("bank:"):  # its signature, checked by its guard, says whose it is
            charge = Charge(self, address)
            scope.setdefault("state", {})[CHARGE] = charge
            try:
                await self.app(scope, receive, send)
            finally:
                charge.settle()
            return
        wait = self.take(key)
        if wait > 0 and key == address and _sign_in(scope["method"], scope["path"]):
            scope.setdefault("state", {})[OVER] = seconds_of(wait)
            wait = 0
        if wait > 0:
            await refusal(seconds_of(wait))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def take(self, key: str) -> float:
        """0 if the caller `key` (`kind:…`) may go now; else the seconds until it may."""
        buckets = self.buckets.get(key.partition(":")[0])
        return buckets.take(key) if buckets is not None else 0.0


def _sign_in(method: str, path: str) -> bool:
    return (method, path) in SIGN_INS or (method == "GET" and bool(SIGN_IN_FORM.fullmatch(path)))


def seconds_of(wait: float) -> int:
    return max(1, math.ceil(wait))


def refusal(seconds: int) -> Response:
    """429 `rate_limited` with `Retry-After`."""
    detail = f"too many requests from this caller; retry in {seconds} s"
    return problem_response(
        "rate_limited", detail, headers={"Retry-After": str(seconds)}, retry_after=seconds
    )


def _exempt(path: str) -> bool:
    """Operations endpoints (probes and scrapes) and static assets are never limited."""
    return path in ("/healthz", "/readyz", "/metrics") or path.startswith("/static/")
