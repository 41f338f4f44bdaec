"""Risk through the API: sweeps at an instant, alerts' lifecycle, as_of, freezes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_flows import START, World, reserve_world
from tests.api.test_plumbing import assert_problem


def sweep(w: World, at) -> dict:
    w.advance_to(at)
    r = w.client.post("/api/v1/risk/sweeps", headers=bearer(w.reg), json={"as_of": at.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


def level(w: World) -> dict:
    return w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()["risk"]


def my_alerts(w: World, status: str | None = None) -> list[dict]:
    q = f"?status={status}&limit=500" if status else "?limit=500"
    items = w.client.get(f"/api/v1/risk/alerts{q}", headers=bearer(w.reg)).json()["items"]
    return [a for a in items if a["institution_id"] == w.inst_id]


def request_refund(w: World) -> dict:
    e = w.enroll(lessons=2, amount="40.00")
    w.pay(e)
    r = w.client.post("/api/v1/parent/refunds", headers=w.parent(e), json={"reason": "x"})
    assert r.status_code == 201
    return r.json()


def test_alert_lifecycle_and_as_of(world: World) -> None:
    world.clock.now = START + timedelta(hours=1)
    refund = request_refund(world)
    # Before respond_by the unanswered refund is not yet a sign.
    out = sweep(world, START + timedelta(days=1))
    assert out["institutions_evaluated"] >= 1 and level(world)["level"] == "low"
    # After respond_by: at least medium, with the refund as evidence, and an alert.
    sweep(world, START + timedelta(days=6))
    risk = level(world)
    assert risk["level"] == "medium"
    overdue = next(i for i in risk["indicators"] if i["code"] == "refund_overdue")
    assert overdue["evidence"] == [refund["id"]] and overdue["threshold"] == "1"
    (alert,) = my_alerts(world, "open")
    assert alert["level"] == "medium" and alert["indicators"][0]["code"] == "refund_overdue"
    # as_of looks only at what was known then: a sweep back in time sees nothing.
    sweep(world, START + timedelta(minutes=30))
    history = world.client.get(
        f"/api/v1/institutions/{world.inst_id}/risk-history", headers=bearer(world.reg)
    ).json()["items"]
    assert [h["level"] for h in history] == ["low", "low", "medium"]
    # Acknowledge, resolve; the same level again does not reopen it.
    ack = world.client.post(
        f"/api/v1/risk/alerts/{alert['id']}/acknowledge",
        headers=bearer(world.reg),
        json={"note": "called the school"},
    )
    assert ack.json()["status"] == "acknowledged"
    assert_problem(
        world.client.post(
            f"/api/v1/risk/alerts/{alert['id']}/acknowledge",
            headers=bearer(world.reg),
            json={"note": "again"},
        ),
        409,
        "alert_not_open",
    )
    world.client.post(
        f"/api/v1/risk/alerts/{alert['id']}/resolve",
        headers=bearer(world.reg),
        json={"note": "refund scheduled"},
    )
    sweep(world, START + timedelta(days=7))
    assert my_alerts(world, "open") == []
    # It rises again: a failed refund makes it critical and a new alert opens.
    world.job("refund_escalation", START + timedelta(days=7))
    ins = next(i for i in world.pending() if i["kind"] == "refund")
    world.clock.now = START + timedelta(days=7, hours=1)
    world.result(ins["id"], "rejected", "FAIL-1")
    (again,) = my_alerts(world, "open")  # at once: the rejection re-evaluated it
    assert again["level"] == "critical" and again["id"] != alert["id"]
    sweep(world, START + timedelta(days=8))  # (other tests' schools share the region)
    assert [a["id"] for a in my_alerts(world, "open")] == [again["id"]]
    assert {i["code"] for i in again["indicators"]} >= {"refund_failed", "refund_overdue"}
    # Never two open: another sweep at a higher instant keeps the one alert.
    sweep(world, START + timedelta(days=9))
    assert len(my_alerts(world, "open")) == 1


def test_auto_freeze_on_critical(world: World, engine: Engine) -> None:
    asked = world.client.post(
        "/api/v1/region-settings",
        headers=bearer(world.reg),
        json={"region_code": "220102", "key": "auto_freeze_on_critical", "value": True},
    )
    assert through(world.client, engine, asked)["value"] is True  # four eyes: approved
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    day = START.date().isoformat()
    world.signed(
        "POST",
        "/api/v1/bank/statements",
        {
            "account_no": world.escrow,
            "statement_date": day,
            "opening_balance": "0",
            "closing_balance": "0.00",
            "transactions": [
                {
                    "bank_txn_id": f"T{world.inst_id[-8:]}1",
                    "direction": "credit",
                    "amount": "40.00",
                    "booked_at": START.isoformat(),
                },
                {
                    "bank_txn_id": "GONE",
                    "direction": "debit",
                    "amount": "40.00",
                    "booked_at": START.isoformat(),
                },
            ],
        },
    )
    sweep(world, START + timedelta(hours=2))
    inst = world.client.get(
        f"/api/v1/institutions/{world.inst_id}", headers=bearer(world.reg)
    ).json()
    assert inst["risk"]["level"] == "critical" and inst["status"] == "frozen"
    assert {i["code"] for i in inst["risk"]["indicators"]} >= {"escrow_shortfall"}
    world.clock.now = START + timedelta(days=8)
    assert world.job("release_batch")["frozen_skipped"] >= 1


def test_risk_level_filter(world: World) -> None:
    sweep(world, START)
    low = world.client.get(
        "/api/v1/institutions?risk_level=low&limit=500", headers=bearer(world.reg)
    ).json()
    assert world.inst_id in {i["id"] for i in low["items"]}
    high = world.client.get(
        "/api/v1/institutions?risk_level=critical&limit=500", headers=bearer(world.reg)
    ).json()
    assert world.inst_id not in {i["id"] for i in high["items"]}


def test_reserve_statement_does_not_hide_an_escrow_shortfall(world: World) -> None:
    w, reserve_no = reserve_world(world)
    e = w.enroll(lessons=2, amount="40.00")
    w.pay(e)
    deposit = {
        "bank_txn_id": f"RSV-{w.inst_id[-8:]}",
        "account_no": reserve_no,
        "payment_reference": "reserve",
        "amount": "100.00",
        "paid_at": START.isoformat(),
    }
    assert w.signed("POST", "/api/v1/bank/deposits", deposit).status_code == 201

    def statement(account: str, closing: str, txn: str, amount: str) -> dict:
        r = w.signed(
            "POST",
            "/api/v1/bank/statements",
            {
                "account_no": account,
                "statement_date": START.date().isoformat(),
                "opening_balance": "0.00",
                "closing_balance": closing,
                "transactions": [
                    {
                        "bank_txn_id": txn,
                        "direction": "credit",
                        "amount": amount,
                        "booked_at": START.isoformat(),
                    }
                ],
            },
        )
        assert r.status_code == 200, r.text
        return r.json()

    # The escrow holds 10.00 less than the ledger says; the reserve matches to the fen.
    escrow = statement(w.escrow, "30.00", f"T{w.inst_id[-8:]}1", "40.00")
    assert {b["kind"] for b in escrow["breaks"]} == {"balance_differs"}
    w.clock.now = START + timedelta(hours=1)
    assert statement(reserve_no, "100.00", deposit["bank_txn_id"], "100.00")["status"] == "matched"
    sweep(w, START + timedelta(hours=2))
    risk = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()["risk"]
    assert risk["level"] == "critical"
    assert "escrow_shortfall" in {i["code"] for i in risk["indicators"]}


def test_a_regional_override_reaches_the_facts(world: World, engine) -> None:
    """The deep-discount share is counted from the enrollments with the region's own share:
    five enrollments at 60% of the filed price are deep discounts at the default 70%, and not
    once the district sets 50% (before, the share was fixed at payment time and the knob did
    nothing)."""
    from tests import factories

    body = factories.institution_body(world.bank.id, region="220105")
    inst = world.client.post("/api/v1/institutions", json=body, headers=bearer(world.reg)).json()
    key = bearer(inst["api_key"])
    course = world.client.post(
        "/api/v1/courses", json=factories.course_body("2026-11-23", n=40), headers=key
    ).json()
    for n in range(5):
        e = world.client.post(
            "/api/v1/enrollments",
            headers=key,
            json={"course_id": course["id"], "student_ref": f"s{n}", "lessons": 10,
                  "amount": "120.00"},
        ).json()  # fmt: skip
        paid = world.signed(
            "POST",
            "/api/v1/bank/deposits",
            {"bank_txn_id": f"DD-{inst['id'][-6:]}-{n}", "account_no": body["escrow_account_no"],
             "payment_reference": e["payment_reference"], "amount": "120.00",
             "paid_at": world.clock.now.isoformat()},
        )  # fmt: skip
        assert paid.status_code == 201, paid.text

    def indicators() -> set[str]:
        sweep(world, world.clock.now)
        r = world.client.get(f"/api/v1/institutions/{inst['id']}", headers=bearer(world.reg))
        return {i["code"] for i in r.json()["risk"]["indicators"]}

    assert "deep_discount" in indicators()
    r = world.client.post(
        "/api/v1/region-settings",
        headers=bearer(world.reg),
        json={"region_code": "220105", "key": "risk_thresholds",
              "value": {"deep_discount": {"price_share": "0.5"}}},
    )  # fmt: skip
    assert r.status_code == 202, r.text  # a rule pack change: four eyes
    through(world.client, engine, r)
    world.clock.now += timedelta(minutes=1)
    assert "deep_discount" not in indicators()


def test_facts_asked_for_no_stall_or_delivery_window_are_gathered(world: World, engine) -> None:
    """Needs built by hand with no stall window and no delivery (a tool's, a test's): the
    one join of scheduled sessions has nothing to count and is skipped, not a ValueError."""
    from service.kit.db import make_sessionmaker
    from service.risk.facts import Needs, gather

    needs = Needs(lookback_days=30, stall_windows=frozenset(), discounts=frozenset(),
                  surges=frozenset(), closure_grace=15)  # fmt: skip
    with make_sessionmaker(engine)() as s:
        facts = gather(s, as_of=START + timedelta(hours=1), needs=needs,
                       institution_ids=[world.inst_id])  # fmt: skip
    assert facts[world.inst_id].stall == {} and facts[world.inst_id].scheduled == {}


def test_money_collected_far_ahead_is_measured_from_the_sessions_bought(
    world: World, engine
) -> None:
    """Twenty lessons bought Monday 23 November at 09:00, one a school day at 16:00: ten days
    on, 3 December, eight have been held; the twelve after are money collected ahead."""
    from decimal import Decimal

    from service.kit.db import make_sessionmaker
    from service.risk.facts import Needs, gather

    e = world.enroll(lessons=20, amount="400.00")
    assert world.pay(e).status_code == 201
    needs = Needs(lookback_days=30, stall_windows=frozenset({14}), discounts=frozenset(),
                  surges=frozenset({(14, 10), (14, 45)}), closure_grace=15)  # fmt: skip
    with make_sessionmaker(engine)() as s:
        facts = gather(s, as_of=START + timedelta(hours=1), needs=needs,
                       institution_ids=[world.inst_id])  # fmt: skip
    ahead = facts[world.inst_id].ahead
    assert ahead[(14, 10)] == (Decimal("400.00"), Decimal("240.00"))
    assert ahead[(14, 45)] == (Decimal("400.00"), Decimal("0"))
