"""Whose bucket a request spends (service.api.ratelimit): a claim only once vouched for, and
only for as long as it keeps authenticating; each kind of caller may have its own limit."""

from __future__ import annotations

import asyncio
from typing import Any

from service.api.ratelimit import CHARGE, Limit, RateLimitMiddleware, Vouched, bucket_key


def scope(headers: dict[str, str] | None = None, client: str = "10.0.0.1") -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "http", "method": "GET", "path": "/api/v1/x", "headers": raw,
            "client": (client, 1234)}  # fmt: skip


class Tick:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_claim_spends_its_callers_bucket_only_while_vouched_for() -> None:
    clock = Tick()
    vouched = Vouched(ttl=600, clock=clock)
    token = scope({"Authorization": "Bearer tgr_real"})
    assert bucket_key(token, vouched) == "addr:10.0.0.1"  # never seen to authenticate
    vouched.vouch(token, "regulator:reg_1")
    assert bucket_key(token, vouched) == "regulator:reg_1"
    assert bucket_key(scope({"Authorization": "Bearer tgr_other"}), vouched) == "addr:10.0.0.1"
    clock.now = 601  # quiet for longer than the vouching lasts: a stranger again
    assert bucket_key(token, vouched) == "addr:10.0.0.1"


def test_a_bank_is_vouched_for_at_the_address_it_proved_itself_from() -> None:
    vouched = Vouched()
    here = scope({"X-Bank-Id": "bank_1"}, client="10.0.0.1")
    vouched.vouch(here, "bank:bank_1")
    assert bucket_key(here, vouched) == "bank:bank_1"
    elsewhere = scope({"X-Bank-Id": "bank_1"}, client="10.9.9.9")
    assert bucket_key(elsewhere, vouched) == "addr:10.9.9.9"


def test_each_kind_of_caller_may_have_its_own_limit() -> None:
    """The settings give one limit to all; `limits` gives a kind its own (issue 38)."""
    answered: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        answered.append(200)

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    vouched = Vouched()
    keyed = scope({"Authorization": "Bearer tgi_key"})
    vouched.vouch(keyed, "institution:inst_1")
    limiter = RateLimitMiddleware(app, rate=0.001, burst=2, vouched=vouched,
                                  limits={"institution": Limit(0.001, 5)})  # fmt: skip
    for _ in range(6):
        asyncio.run(limiter(keyed, receive, send))
    assert answered == [200] * 5 + [429]
    answered.clear()
    for _ in range(3):
        asyncio.run(limiter(scope(), receive, send))
    assert answered == [200, 200, 429]


def test_a_banks_bucket_is_charged_by_its_guard_and_its_address_pays_otherwise() -> None:
    """A bank's id is no secret: the limiter leaves the charge to the guard that checks the
    signature (`Charge.caller`); a request that meets no guard, or fails it, is charged to
    its address after its answer, never to the bank."""
    proven: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if proven.pop(0):  # the guard checked the signature
            assert scope["state"][CHARGE].caller("bank:bank_1") == 0

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    vouched = Vouched()
    banked = scope({"X-Bank-Id": "bank_1"})
    vouched.vouch(banked, "bank:bank_1")
    limiter = RateLimitMiddleware(app, rate=0.001, burst=3, vouched=vouched,
                                  limits={"bank": Limit(0.001, 2)})  # fmt: skip
    proven.extend([False] * 3 + [True] * 2)
    for _ in range(5):
        asyncio.run(limiter(dict(banked), receive, send))
    assert limiter.take("addr:10.0.0.1") > 0  # the three that proved nothing spent it
    assert limiter.take("bank:bank_1") > 0  # the two that did spent the bank's


def test_an_ipv6_client_is_one_bucket_for_its_network() -> None:
    """One subscriber's /64 is one address to the limiter (it may pick any of 2^64); an
    IPv4-mapped address is its IPv4 address; anything else is taken as given."""
    vouched = Vouched()
    one = bucket_key(scope(client="2001:db8:1:2::1"), vouched)
    assert one == bucket_key(scope(client="2001:db8:1:2:ffff:ffff:ffff:fffe"), vouched)
    assert one != bucket_key(scope(client="2001:db8:1:3::1"), vouched)
    assert bucket_key(scope(client="::ffff:10.0.0.1"), vouched) == "addr:10.0.0.1"
    assert bucket_key(scope(client="testclient"), vouched) == "addr:testclient"
