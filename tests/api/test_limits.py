"""Totals cannot overflow (issue: holes, item 10): a single deposit is bounded, and a transfer
that would take a balance past NUMERIC(18,2) is refused with a code, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

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
    """A burst of 5 refilled at 1 a second: the sixth request at once is 429 `rate_limited`
    with Retry-After; another caller (another token) is not held back by it; probes are
    never limited."""
    limited = settings.model_copy(update={"rate_limit_per_second": 1, "rate_limit_burst": 5})
    _, reg = factories.regulator(engine, "220000")
    _, other = factories.regulator(engine, "220000")
    with TestClient(create_app(limited, engine=engine)) as c:
        answers = [c.get("/api/v1/banks", headers=bearer(reg)) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert answers[-1].json()["code"] == "rate_limited"
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert c.get("/api/v1/banks", headers=bearer(other)).status_code == 200
        assert all(c.get("/healthz").status_code == 200 for _ in range(10))
