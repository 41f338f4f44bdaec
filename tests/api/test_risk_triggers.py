"""Risk evaluated when it happens: a rejected refund or a statement short of the ledger opens
its institution's alert in the request that brought it, with no sweep in between; a failed
evaluation never loses the event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.risk import triggers
from tests.api.conftest import bearer
from tests.api.test_flows import START, World
from tests.api.test_risk import my_alerts, sweep


def rejected_refund(w: World) -> str:
    """A refund requested, unanswered, accepted by escalation and rejected by the bank; the
    instruction's id."""
    e = w.enroll(lessons=2, amount="40.00")
    w.pay(e)
    refund = w.client.post("/api/v1/parent/refunds", headers=w.parent(e), json={"reason": "x"})
    assert refund.status_code == 201, refund.text
    w.job("refund_escalation", START + timedelta(days=7))
    ins = next(i for i in w.pending() if i["kind"] == "refund")
    w.clock.now = START + timedelta(days=7, hours=1)
    assert w.result(ins["id"], "rejected", "FAIL-1").status_code == 200
    return str(ins["id"])


def statement(w: World, closing: str, *lines: tuple[str, str, str]) -> dict:
    r = w.signed(
        "POST",
        "/api/v1/bank/statements",
        {
            "account_no": w.escrow,
            "statement_date": START.date().isoformat(),
            "opening_balance": "0.00",
            "closing_balance": closing,
            "transactions": [
                {"bank_txn_id": t, "direction": d, "amount": a, "booked_at": START.isoformat()}
                for t, d, a in lines
            ],
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def codes(alert: dict) -> set[str]:
    return {i["code"] for i in alert["indicators"]}


def test_a_rejected_refund_opens_its_alert_at_once(world: World) -> None:
    sweep(world, START)
    rejected_refund(world)
    (alert,) = my_alerts(world, "open")
    assert alert["level"] == "critical" and "refund_failed" in codes(alert)
    inst = world.client.get(f"/api/v1/institutions/{world.inst_id}", headers=bearer(world.reg))
    assert inst.json()["risk"]["level"] == "critical"


def test_money_gone_without_instruction_opens_its_alert_at_once(world: World) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    world.clock.now = START + timedelta(hours=1)
    credit = (f"T{world.inst_id[-8:]}1", "credit", "40.00")
    out = statement(world, "0.00", credit, ("GONE", "debit", "40.00"))
    assert {b["kind"] for b in out["breaks"]} >= {"missing_in_ledger"}
    (alert,) = my_alerts(world, "open")
    assert alert["level"] == "critical" and "escrow_shortfall" in codes(alert)


def test_a_statement_short_of_the_ledger_opens_its_alert_at_once(world: World) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    world.clock.now = START + timedelta(hours=1)
    out = statement(world, "30.00", (f"T{world.inst_id[-8:]}1", "credit", "40.00"))
    assert {b["kind"] for b in out["breaks"]} == {"balance_differs"}
    (alert,) = my_alerts(world, "open")
    assert "escrow_shortfall" in codes(alert)


def test_a_matched_statement_or_a_lagging_credit_evaluates_nothing(world: World) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    world.clock.now = START + timedelta(hours=1)
    # The bank has not booked the day's deposit yet: its balance agrees with its own lines.
    out = statement(world, "0.00")
    assert {b["kind"] for b in out["breaks"]} == {"missing_in_statement", "balance_differs"}
    history = world.client.get(
        f"/api/v1/institutions/{world.inst_id}/risk-history", headers=bearer(world.reg)
    ).json()["items"]
    assert len(history) == 1 and my_alerts(world, "open")
    # A statement that matches re-evaluates nothing.
    world.clock.now = START + timedelta(hours=2)
    assert (
        statement(world, "40.00", (f"T{world.inst_id[-8:]}1", "credit", "40.00"))["status"]
        == "matched"
    )
    again = world.client.get(
        f"/api/v1/institutions/{world.inst_id}/risk-history", headers=bearer(world.reg)
    ).json()["items"]
    assert len(again) == 1


def test_a_failed_evaluation_keeps_the_result_for_the_nightly_sweep(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("evaluation down")

    monkeypatch.setattr(triggers, "sweep", broken)
    instruction_id = rejected_refund(world)
    assert my_alerts(world, "open") == []
    rejected = world.signed("GET", "/api/v1/bank/instructions?status=rejected").json()["items"]
    assert instruction_id in {i["id"] for i in rejected}
    monkeypatch.undo()
    sweep(world, START + timedelta(days=7, hours=2))
    (alert,) = my_alerts(world, "open")
    assert "refund_failed" in codes(alert)
