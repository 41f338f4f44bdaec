"""Totals cannot overflow (issue: holes, item 10): a single deposit is bounded, and a transfer
that would take a balance past NUMERIC(18,2) is refused with a code, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.ratelimit import Limit, parse_limits
from service.app import create_app
from service.config import Settings
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import Clock, World
from tests.api.test_plumbing import assert_problem

HUGE = "9999999999999.99"


def one(w: World, amount: str, reference: str = "NOBODY") -> dict:
    return {
        "bank_txn_id": f"L-{uuid.uuid4().hex[:12]}",
        "account_no": w.escrow,
        "payment_reference": reference,
        "amount": amount,
        "paid_at": w.clock.now.isoformat(),
    }


def test_a_deposit_above_the_limit_is_refused(world: World) -> None:
    before = world.balances()
    assert_problem(world.signed("POST", "/api/v1/bank/deposits", one(world, HUGE)), 422,
                   "deposit_above_limit")  # fmt: skip
    batch = [one(world, HUGE), one(world, "10.00")]
    results = world.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": batch}).json()
    assert results["results"][0]["code"] == "deposit_above_limit"
    assert results["results"][1]["status"] == "suspense"
    after = world.balances()
    assert Decimal(after["suspense"]) - Decimal(before["suspense"]) == Decimal("10.00")


@pytest.fixture
def unbounded(engine, settings) -> Iterator[World]:
    """A world whose deposit limit is the wire's own maximum, to reach the ledger's."""
    clock = Clock()
    app = create_app(
        settings.model_copy(update={"max_deposit_amount": Decimal(HUGE)}), engine=engine,
        clock=clock,
    )  # fmt: skip
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(engine)
        _, reg = factories.regulator(engine, "220000")
        body = factories.institution_body(bank.id)
        inst = client.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
        yield World(client, clock, bank, reg, inst["id"], inst["api_key"],
                    body["escrow_account_no"], {})  # fmt: skip


def test_a_batch_that_would_overflow_an_account_is_refused_whole(unbounded: World) -> None:
    w = unbounded
    first = w.signed("POST", "/api/v1/bank/deposits/batch",
                     {"deposits": [one(w, HUGE) for _ in range(1000)]})  # fmt: skip
    assert first.status_code == 200, first.text[:200]
    before = w.balances()
    second = w.signed("POST", "/api/v1/bank/deposits/batch",
                      {"deposits": [one(w, HUGE) for _ in range(2)]})  # fmt: skip
    assert_problem(second, 422, "overflow")
    assert w.balances() == before
    single = w.signed("POST", "/api/v1/bank/deposits", one(w, HUGE))
    assert_problem(single, 422, "overflow")
    assert w.signed("POST", "/api/v1/bank/deposits", one(w, "1.00")).status_code == 202


def test_a_caller_past_its_rate_is_429_with_retry_after_and_others_are_not(
    engine: Engine, settings: Settings
) -> None:
    """A burst of 5 refilled at 1 a second: once its token has checked, a caller spends its own
    bucket, and the sixth request from it at once is 429 `rate_limited` with Retry-After;
    another caller (another token) is not held back by it; probes are never limited."""
    limited = settings.model_copy(update={"rate_limit_per_second": 1, "rate_limit_burst": 5})
    _, reg = factories.regulator(engine, "220000")
    _, other = factories.regulator(engine, "220000")
    with TestClient(create_app(limited, engine=engine)) as c:
        assert c.get("/api/v1/banks", headers=bearer(reg)).status_code == 200  # the address's
        answers = [c.get("/api/v1/banks", headers=bearer(reg)) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert answers[-1].json()["code"] == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert c.get("/api/v1/banks", headers=bearer(other)).status_code == 200
        assert all(c.get("/healthz").status_code == 200 for _ in range(10))


def _limited_app(engine: Engine, settings: Settings, burst: int) -> TestClient:
    """Refilled so slowly that nothing comes back while the test runs."""
    update = {"rate_limit_per_second": 0.001, "rate_limit_burst": burst}
    return TestClient(create_app(settings.model_copy(update=update), engine=engine))


def test_a_made_up_credential_spends_its_addresss_budget(
    engine: Engine, settings: Settings
) -> None:
    """Issue 31, finding 1: a random bearer token or `X-Bank-Id` on each request was a fresh
    bucket each, so nothing was ever throttled. Until a credential checks, its request spends
    its client address's bucket: 20 of 40 forged requests pass the limiter (to be refused
    401), the other 20 are 429, whichever credential each one claims."""
    with _limited_app(engine, settings, burst=20) as c:
        forged = [c.get("/api/v1/banks", headers=bearer(f"tgr_{uuid.uuid4().hex}"))
                  for _ in range(20)]  # fmt: skip
        forged += [c.post("/api/v1/bank/deposits", json={},
                          headers={"X-Bank-Id": uuid.uuid4().hex, "X-Timestamp": "1",
                                   "X-Signature": "00"}) for _ in range(20)]  # fmt: skip
    codes = [r.status_code for r in forged]
    assert codes == [401] * 20 + [429] * 20, codes
    assert forged[-1].json()["code"] == "rate_limited"


def test_an_authenticated_caller_is_not_held_back_by_its_addresss_forgers(
    engine: Engine, settings: Settings
) -> None:
    """A regulator and a bank whose credentials have checked keep their own buckets while a
    forger at the same address has spent the address's; a forged token of theirs does not."""
    _, reg = factories.regulator(engine, "220000")
    bank = factories.bank(engine)
    with _limited_app(engine, settings, burst=5) as c:
        assert c.get("/api/v1/banks", headers=bearer(reg)).status_code == 200
        path = "/api/v1/bank/whoami"
        assert c.get(path, headers=bank.headers("GET", path)).status_code == 200
        spent = [c.get("/api/v1/banks", headers=bearer(uuid.uuid4().hex)) for _ in range(10)]
        assert spent[-1].status_code == 429
        assert c.get("/api/v1/banks", headers=bearer(reg)).status_code == 200
        assert c.get(path, headers=bank.headers("GET", path)).status_code == 200
        forged = c.get(path, headers={**bank.headers("GET", path), "X-Signature": "00" * 32})
        assert forged.status_code == 401
        assert c.get("/api/v1/banks", headers=bearer(reg + "x")).status_code == 429


def test_a_bank_has_a_limit_of_its_own(engine: Engine, settings: Settings) -> None:
    """`RATE_LIMITS` gives a kind of caller its own limit (a bank's, set for its real rate):
    a bank past its own burst is 429 while a regulator under the general limit is not."""
    update = {"rate_limit_per_second": 0.001, "rate_limit_burst": 50, "rate_limits": "bank=0.001/3"}
    _, reg = factories.regulator(engine, "220000")
    bank = factories.bank(engine)
    path = "/api/v1/bank/whoami"
    with TestClient(create_app(settings.model_copy(update=update), engine=engine)) as c:
        assert c.get(path, headers=bank.headers("GET", path)).status_code == 200  # vouches
        codes = [c.get(path, headers=bank.headers("GET", path)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert all(c.get("/api/v1/banks", headers=bearer(reg)).status_code == 200
                   for _ in range(10))  # fmt: skip


def _spent(c: TestClient, send: Callable[[], Any], burst: int) -> Any:
    """The answer once a caller has spent its burst (its first request vouches for it)."""
    assert send().status_code == 200  # the credential checks: its own bucket from here on
    codes = [send().status_code for _ in range(burst)]
    assert codes == [200] * burst, codes
    return send()


def test_each_kind_of_caller_is_limited_at_its_own_rate(engine: Engine, settings: Settings) -> None:
    """Issue 38: limits per kind of caller. A bank past its burst is a problem+json 429
    `rate_limited` whose Retry-After is what its own rate gives (0.1 a second: about 10 s for
    the next token); an institution past its own is told its rate's wait (0.5 a second: 2 s);
    a regulator, whose kind has no limit of its own, is held by neither."""
    update = {"rate_limit_per_second": 0.001, "rate_limit_burst": 50,
              "rate_limits": "bank=0.1/3,institution=0.5/2"}  # fmt: skip
    _, reg = factories.regulator(engine, "220000")
    bank = factories.bank(engine)
    _, key = factories.institution(engine, bank.id)
    path = "/api/v1/bank/whoami"
    with TestClient(create_app(settings.model_copy(update=update), engine=engine)) as c:
        held = _spent(c, lambda: c.get(path, headers=bank.headers("GET", path)), burst=3)
        body = assert_problem(held, 429, "rate_limited")
        # The wait its rate gives, less what refilled while the test ran (under 1 s here).
        assert 9 <= int(held.headers["Retry-After"]) <= 10, held.headers
        assert body["retry_after"] == int(held.headers["Retry-After"])
        own = _spent(c, lambda: c.get("/api/v1/balances", headers=bearer(key)), burst=2)
        assert_problem(own, 429, "rate_limited")
        assert 1 <= int(own.headers["Retry-After"]) <= 2, own.headers
        assert all(c.get("/api/v1/banks", headers=bearer(reg)).status_code == 200
                   for _ in range(10))  # fmt: skip


def test_a_forger_at_a_banks_address_spends_the_address_never_the_bank(
    engine: Engine, settings: Settings
) -> None:
    """Issue 31, the limiter's leftovers: a request naming a bank that had checked from this
    address spent that bank's bucket before its signature was checked, so a forger at the
    bank's own address (or an unsigned probe) held the bank at 429, and a missing signature
    was answered 429 before 401. Now the bank's bucket is charged once its signature checks:
    forged and unsigned requests are 401 and spend the address's bucket, never the bank's."""
    update = {"rate_limit_per_second": 0.001, "rate_limit_burst": 12,
              "rate_limits": "bank=0.001/3"}  # fmt: skip
    bank = factories.bank(engine)
    path = "/api/v1/bank/whoami"
    unsigned = {"X-Bank-Id": bank.id, "X-Timestamp": str(int(time.time()))}
    app = create_app(settings.model_copy(update=update), engine=engine)
    with TestClient(app, client=(factories.client_address(), 5000)) as c:
        assert c.get(path, headers=bank.headers("GET", path)).status_code == 200  # vouches
        for _ in range(5):
            forged = {**bank.headers("GET", path), "X-Signature": "00" * 32}
            assert_problem(c.get(path, headers=forged), 401, "invalid_signature")
            assert_problem(c.get(path, headers=unsigned), 401, "invalid_signature")
        answers = [c.get(path, headers=bank.headers("GET", path)) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert_problem(answers[-1], 429, "rate_limited")
        assert int(answers[-1].headers["Retry-After"]) >= 1
        # The bank's budget is spent; a missing signature is still told it is missing.
        assert_problem(c.get(path, headers=unsigned), 401, "invalid_signature")
        # The forgers spent their address's: 1 + 10 + 1 of its 12.
        assert_problem(c.get("/api/v1/banks"), 429, "rate_limited")


def test_the_default_limits_give_a_bank_its_real_rate() -> None:
    limits = parse_limits(Settings.model_fields["rate_limits"].default)
    assert set(limits) == {"bank"} and limits["bank"] == Limit(20, 200)


@pytest.mark.parametrize("text", ["bank=0/10", "robot=1/1", "bank=1/0.5", "bank=x/1"])
def test_a_bad_kind_limit_is_refused_at_start(text: str) -> None:
    with pytest.raises(ValueError, match="RATE_LIMITS"):
        parse_limits(text)
