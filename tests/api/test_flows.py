"""Money flows through the API, in process, on SQLite and PostgreSQL, with a controlled clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

import ledger
from service.app import create_app
from service.config import Settings
from service.flows.balances import institution_balances
from service.kit.clock import SHANGHAI
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_plumbing import assert_problem

START = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)  # a Monday morning


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    client: TestClient
    clock: Clock
    bank: factories.BankCred
    reg: str
    inst_id: str
    key: str
    escrow: str
    course: dict[str, Any]
    txn: int = 0
    seen: list[str] = field(default_factory=list)

    def signed(self, method: str, path: str, body: Any = None) -> Any:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = {**self.bank.headers(method, path, raw), "content-type": "application/json"}
        return self.client.request(method, path, content=raw, headers=headers)

    def enroll(self, lessons: int = 10, amount: str = "200.00") -> dict[str, Any]:
        r = self.client.post(
            "/api/v1/enrollments",
            headers=bearer(self.key),
            json={
                "course_id": self.course["id"],
                "student_ref": "stu-1",
                "lessons": lessons,
                "amount": amount,
            },
        )
        assert r.status_code == 201, r.text
        return r.json()

    def pay(
        self, enrollment: dict[str, Any], amount: str | None = None, txn: str | None = None
    ) -> Any:
        self.txn += 1
        return self.signed(
            "POST",
            "/api/v1/bank/deposits",
            {
                "bank_txn_id": txn or f"T{self.inst_id[-8:]}{self.txn}",
                "account_no": self.escrow,
                "payment_reference": enrollment["payment_reference"],
                "amount": amount or enrollment["amount_due"],
                "paid_at": self.clock.now.isoformat(),
            },
        )

    def parent(self, enrollment: dict[str, Any]) -> dict[str, str]:
        r = self.client.post(
            "/api/v1/parent/sessions",
            json={"enrollment_id": enrollment["id"], "access_code": enrollment["access_code"]},
        )
        assert r.status_code == 201, r.text
        return bearer(r.json()["token"])

    def consume(self, enrollment_id: str, lessons: int, at: datetime | None = None) -> Any:
        return self.client.post(
            f"/api/v1/enrollments/{enrollment_id}/consumptions",
            headers=bearer(self.key),
            json={"lessons": lessons, "occurred_at": (at or self.clock.now).isoformat()},
        )

    def job(self, name: str, as_of: datetime | None = None) -> dict[str, Any]:
        self.advance_to(as_of)
        r = self.client.post(
            f"/api/v1/jobs/{name}/run",
            headers=bearer(self.reg),
            json={"as_of": (as_of or self.clock.now).isoformat()},
        )
        assert r.status_code == 200, r.text
        return r.json()

    def advance_to(self, at: datetime | None) -> None:
        """A job or sweep for a later instant runs at that instant: the service refuses an
        `as_of` in its future, so the test's clock moves there first."""
        if at is not None and at > self.clock.now:
            self.clock.now = at

    def pending(self) -> list[dict[str, Any]]:
        r = self.signed("GET", "/api/v1/bank/instructions?status=pending")
        assert r.status_code == 200, r.text
        return [i for i in r.json()["items"] if i["account_no"] == self.escrow]

    def result(self, instruction_id: str, status: str, txn: str) -> Any:
        return self.signed(
            "POST",
            f"/api/v1/bank/instructions/{instruction_id}/result",
            {
                "status": status,
                "bank_txn_id": txn,
                "executed_at": self.clock.now.isoformat(),
                "reason": None if status == "executed" else "account closed",
            },
        )

    def balances(self) -> dict[str, str]:
        return self.client.get("/api/v1/balances", headers=bearer(self.key)).json()


@pytest.fixture
def world(engine: Engine, settings: Settings) -> Iterator[World]:
    clock = Clock()
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(engine)
        _, reg = factories.regulator(engine, "220000")
        body = factories.institution_body(bank.id)
        inst = client.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
        course = client.post(
            "/api/v1/courses",
            json=factories.course_body("2026-11-23", n=40),
            headers=bearer(inst["api_key"]),
        ).json()
        assert course["status"] == "approved", course
        yield World(
            client, clock, bank, reg, inst["id"], inst["api_key"], body["escrow_account_no"], course
        )


def money(s: str) -> Decimal:
    return Decimal(s)


def assert_identity(w: World) -> None:
    b = w.balances()
    assert money(b["escrow"]) == money(b["prepaid_outstanding"]) + money(
        b["earned_unreleased"]
    ) + money(b["suspense"])


def test_enroll_pay_consume_exact_sums(world: World) -> None:
    e = world.enroll(lessons=3, amount="50.00")
    assert world.pay(e).status_code == 201
    world.clock.now = START + timedelta(days=3)
    amounts = [world.consume(e["id"], 1).json()["amount"] for _ in range(3)]
    assert amounts == ["16.67", "16.66", "16.67"]
    assert_problem(world.consume(e["id"], 1), 422, "exceeds_remaining")
    assert world.balances()["earned_unreleased"] == "50.00"
    assert_identity(world)


def test_consumption_rules(world: World) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    assert_problem(world.consume(e["id"], 1), 422, "not_funded")
    world.pay(e)
    assert_problem(
        world.consume(e["id"], 1, at=world.clock.now + timedelta(hours=1)),
        422,
        "occurred_in_future",
    )


def test_enrollment_caps(world: World) -> None:
    r = world.client.post(
        "/api/v1/enrollments",
        headers=bearer(world.key),
        json={
            "course_id": world.course["id"],
            "student_ref": "s",
            "lessons": 10,
            "amount": "200.01",
        },
    )
    assert_problem(r, 422, "amount_above_filed_price")
    r = world.client.post(
        "/api/v1/enrollments",
        headers=bearer(world.key),
        json={
            "course_id": world.course["id"],
            "student_ref": "s",
            "lessons": 40,
            "amount": "800.00",
        },
    )
    assert r.status_code == 201  # 40 school days from 23 Nov end before 23 Feb


def test_deposit_replay_conflict_and_suspense(world: World) -> None:
    e = world.enroll()
    first = world.pay(e, txn="DUP-1")
    again = world.pay(e, txn="DUP-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = world.pay(e, amount="1.00", txn="DUP-1")
    assert_problem(other, 409, "idempotency_conflict")
    unknown = world.signed(
        "POST",
        "/api/v1/bank/deposits",
        {
            "bank_txn_id": "SUSP-1",
            "account_no": world.escrow,
            "payment_reference": "NOPE",
            "amount": "50.00",
            "paid_at": START.isoformat(),
        },
    )
    assert unknown.status_code == 202 and unknown.json()["reason"] == "unknown_reference"
    e2 = world.enroll()
    wrong = world.pay(e2, amount="199.99")
    assert wrong.status_code == 202 and wrong.json()["reason"] == "amount_mismatch"
    assert world.balances()["suspense"] == "249.99"
    foreign = world.signed(
        "POST",
        "/api/v1/bank/deposits",
        {
            "bank_txn_id": "F-1",
            "account_no": "000",
            "payment_reference": "x",
            "amount": "1.00",
            "paid_at": START.isoformat(),
        },
    )
    assert_problem(foreign, 403, "foreign_account")
    # The regulator matches the mistaken payment after the parent pays the difference... or returns it.
    deposit_id = wrong.json()["deposit_id"]
    r = world.client.post(f"/api/v1/deposits/{deposit_id}/return", headers=bearer(world.reg))
    assert r.status_code == 200 and r.json()["status"] == "returning"
    ins = next(i for i in world.pending() if i["payee"].get("original_bank_txn_ids"))
    assert world.result(ins["id"], "executed", "RET-1").status_code == 200
    assert world.balances()["suspense"] == "50.00"
    assert_identity(world)


def test_dispute_holds_release_until_decided(world: World) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    parent = world.parent(e)
    world.clock.now = START + timedelta(hours=8)
    c1 = world.consume(e["id"], 1).json()
    c2 = world.consume(e["id"], 1).json()
    r = world.client.post(
        f"/api/v1/parent/consumptions/{c2['id']}/dispute",
        headers=parent,
        json={"reason": "no lesson that day"},
    )
    assert r.status_code == 200 and r.json()["status"] == "disputed"
    world.clock.now = START + timedelta(days=8)
    out = world.job("release_batch")
    assert out["instructions"] >= 1
    release = next(i for i in world.pending() if i["kind"] == "release")
    assert release["amount"] == c1["amount"]
    parent = world.parent(e)  # the first session expired after 12 hours
    assert_problem(
        world.client.post(
            f"/api/v1/parent/consumptions/{c1['id']}/dispute",
            headers=parent,
            json={"reason": "late"},
        ),
        409,
        "invalid_state",
    )
    world.result(release["id"], "executed", "REL-1")
    assert world.balances()["released"] == "20.00"
    r = world.client.post(
        f"/api/v1/consumptions/{c2['id']}/decide",
        headers=bearer(world.reg),
        json={"decision": "reverse", "reason": "attendance records show no lesson"},
    )
    assert r.status_code == 200 and r.json()["status"] == "reversed"
    assert world.balances()["prepaid_outstanding"] == "20.00"
    assert_identity(world)


def test_refund_accepted_paid_and_failed(world: World) -> None:
    e = world.enroll(lessons=4, amount="80.00")
    world.pay(e)
    parent = world.parent(e)
    world.clock.now = START + timedelta(hours=8)
    world.consume(e["id"], 1)
    r = world.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "moving"})
    assert r.status_code == 201 and r.json()["amount"] == "60.00"
    assert_problem(
        world.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "again"}),
        409,
        "refund_in_progress",
    )
    refund_id = r.json()["id"]
    r = world.client.post(
        f"/api/v1/refunds/{refund_id}/respond",
        headers=bearer(world.key),
        json={"decision": "accept", "reason": "ok"},
    )
    assert r.status_code == 200 and r.json()["status"] == "instructed"
    ins = next(i for i in world.pending() if i["kind"] == "refund")
    assert ins["amount"] == "60.00" and ins["payee"]["original_bank_txn_ids"]
    assert world.result(ins["id"], "rejected", "BAD-1").status_code == 200
    timeline = world.client.get(f"/api/v1/parent/refunds/{refund_id}", headers=parent).json()
    assert [t["status"] for t in timeline["timeline"]] == [
        "requested",
        "accepted",
        "instructed",
        "failed",
    ]
    assert (
        world.client.get("/api/v1/parent/enrollment", headers=parent).json()["refundable_amount"]
        == "60.00"
    )
    # The parent asks again; this time the bank pays.
    r2 = world.client.post(
        "/api/v1/parent/refunds", headers=parent, json={"lessons": 2, "reason": "retry"}
    ).json()
    assert r2["amount"] == "40.00"
    world.client.post(
        f"/api/v1/refunds/{r2['id']}/respond",
        headers=bearer(world.key),
        json={"decision": "accept", "reason": "ok"},
    )
    ins2 = next(i for i in world.pending() if i["kind"] == "refund")
    assert world.result(ins2["id"], "executed", "PAID-1").status_code == 200
    assert (
        world.result(ins2["id"], "executed", "PAID-1").status_code == 200
    )  # callback twice: no-op
    assert_problem(world.result(ins2["id"], "rejected", "PAID-2"), 409, "instruction_settled")
    assert_problem(world.result("ins_unknown", "executed", "X"), 404, "unknown_instruction")
    b = world.balances()
    assert b["prepaid_outstanding"] == "20.00" and b["escrow"] == "40.00"
    assert_identity(world)


def reserve_world(world: World) -> tuple[World, str]:
    """A second institution, under risk-reserve supervision, in the same world."""
    body = factories.institution_body(
        world.bank.id,
        supervision_mode="reserve",
        reserve_account_no=f"6229{uuid.uuid4().int % 10**12:012d}",
    )
    inst = world.client.post("/api/v1/institutions", json=body, headers=bearer(world.reg)).json()
    course = world.client.post(
        "/api/v1/courses",
        json=factories.course_body("2026-11-23", n=40),
        headers=bearer(inst["api_key"]),
    ).json()
    w = replace(
        world,
        inst_id=inst["id"],
        key=inst["api_key"],
        escrow=body["escrow_account_no"],
        course=course,
    )
    return w, body["reserve_account_no"]


def test_reserve_mode_refund_the_escrow_cannot_pay_draws_on_the_reserve(
    world: World, engine: Engine
) -> None:
    w, reserve_no = reserve_world(world)
    e1, e2 = w.enroll(lessons=4, amount="80.00"), w.enroll(lessons=10, amount="200.00")
    w.pay(e1)
    w.pay(e2)
    r = w.signed(
        "POST",
        "/api/v1/bank/deposits",
        {
            "bank_txn_id": f"RSV-{w.inst_id[-8:]}",
            "account_no": reserve_no,
            "payment_reference": "reserve",
            "amount": "100.00",
            "paid_at": w.clock.now.isoformat(),
        },
    )
    assert r.status_code == 201, r.text

    def reserve() -> Decimal:
        with engine.connect() as c:
            return institution_balances(c, w.inst_id).reserve

    def refund(e: dict[str, Any]) -> tuple[str, dict[str, str]]:
        parent = w.parent(e)
        rid = w.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "x"})
        w.client.post(
            f"/api/v1/refunds/{rid.json()['id']}/respond",
            headers=bearer(w.key),
            json={"decision": "accept", "reason": "ok"},
        )
        return rid.json()["id"], parent

    def instructions_on(account_no: str) -> list[dict[str, Any]]:
        r = w.signed("GET", "/api/v1/bank/instructions?status=pending")
        return [i for i in r.json()["items"] if i["account_no"] == account_no]

    # The escrow account cannot pay 80.00: the reserve pays it instead.
    rid, parent = refund(e1)
    (ins,) = instructions_on(w.escrow)
    assert w.result(ins["id"], "rejected", "NSF-1").status_code == 200
    (drawn,) = instructions_on(reserve_no)
    assert drawn["amount"] == "80.00" and drawn["kind"] == "refund"
    assert drawn["payee"]["original_bank_txn_ids"] == ins["payee"]["original_bank_txn_ids"]
    view = w.client.get(f"/api/v1/parent/refunds/{rid}", headers=parent).json()
    assert view["status"] == "instructed"
    assert [t["status"] for t in view["timeline"]][-2:] == ["failed", "instructed"]
    assert "risk reserve" in view["timeline"][-1]["note"]
    assert_identity(w)
    assert w.result(drawn["id"], "executed", "RSV-PAID-1").status_code == 200
    view = w.client.get(f"/api/v1/parent/refunds/{rid}", headers=parent).json()
    assert view["status"] == "paid"
    b = w.balances()
    # The parent is paid from the reserve; the parent's money still in escrow is now the
    # institution's (earned), and the reserve is down by the refund.
    assert (b["prepaid_outstanding"], b["earned_unreleased"], b["escrow"]) == (
        "200.00",
        "80.00",
        "280.00",
    )
    assert reserve() == Decimal("20.00")
    assert_identity(w)
    seen = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()
    assert seen["reserve_account_no"] == reserve_no
    assert seen["balances"]["reserve"] == "20.00"

    # 200.00 is more than the 20.00 left in reserve: the refund fails and the money returns.
    rid2, parent2 = refund(e2)
    (ins2,) = instructions_on(w.escrow)
    assert w.result(ins2["id"], "rejected", "NSF-2").status_code == 200
    assert instructions_on(reserve_no) == []
    view = w.client.get(f"/api/v1/parent/refunds/{rid2}", headers=parent2).json()
    assert view["status"] == "failed"
    assert "cannot cover" in view["timeline"][-1]["note"]
    enrollment = w.client.get("/api/v1/parent/enrollment", headers=parent2).json()
    assert enrollment["refundable_amount"] == "200.00"
    assert reserve() == Decimal("20.00")
    assert_identity(w)
    with engine.connect() as c:
        assert ledger.verify(c).ok


def test_refund_escalated_disputed_and_decided(world: World) -> None:
    e1, e2 = world.enroll(lessons=2, amount="40.00"), world.enroll(lessons=2, amount="40.00")
    world.pay(e1)
    world.pay(e2)
    r1 = world.client.post(
        "/api/v1/parent/refunds", headers=world.parent(e1), json={"reason": "a"}
    ).json()
    r2 = world.client.post(
        "/api/v1/parent/refunds", headers=world.parent(e2), json={"reason": "b"}
    ).json()
    disputed = world.client.post(
        f"/api/v1/refunds/{r2['id']}/respond",
        headers=bearer(world.key),
        json={"decision": "dispute", "reason": "lessons were given"},
    )
    assert disputed.status_code == 200, disputed.text
    assert world.job("refund_escalation", START + timedelta(days=4))["refunds_accepted"] == 0
    assert (
        world.job("refund_escalation", START + timedelta(days=5, minutes=1))["refunds_accepted"]
        == 1
    )
    regulator_view = world.client.get(
        "/api/v1/refunds?status=instructed&limit=500", headers=bearer(world.reg)
    ).json()
    assert r1["id"] in {r["id"] for r in regulator_view["items"]}
    assert_problem(
        world.client.post(
            f"/api/v1/refunds/{r1['id']}/decide",
            headers=bearer(world.reg),
            json={"decision": "approve", "reason": "x"},
        ),
        409,
        "invalid_state",
    )
    r = world.client.post(
        f"/api/v1/refunds/{r2['id']}/decide",
        headers=bearer(world.reg),
        json={"decision": "deny", "reason": "records show attendance"},
    )
    assert r.json()["status"] == "denied"
    assert_identity(world)


def test_frozen_institution(world: World) -> None:
    e = world.enroll()
    world.client.post(
        f"/api/v1/institutions/{world.inst_id}/freeze",
        headers=bearer(world.reg),
        json={"reason": "x"},
    )
    r = world.client.post(
        "/api/v1/enrollments",
        headers=bearer(world.key),
        json={"course_id": world.course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"},
    )
    assert_problem(r, 409, "institution_frozen")
    assert world.pay(e).json()["reason"] == "institution_frozen"


def test_parent_sessions_throttled(world: World) -> None:
    # A client address of its own, so that this test's failures lock out nobody else's.
    guesser = TestClient(world.client.app, client=(factories.client_address(), 5000))

    def login(enrollment: dict[str, Any], code: str) -> Any:
        return guesser.post(
            "/api/v1/parent/sessions", json={"enrollment_id": enrollment["id"], "access_code": code}
        )

    e = world.enroll()
    for _ in range(5):
        assert_problem(login(e, "WRONG"), 401, "invalid_access_code")
    locked = assert_problem(login(e, "WRONG"), 429, "too_many_attempts")
    assert locked["retry_after"] >= 1
    # The parent, from their own phone, is still let in: guesses lock out only the guesser.
    assert (
        world.client.post(
            "/api/v1/parent/sessions",
            json={"enrollment_id": e["id"], "access_code": e["access_code"]},
        ).status_code
        == 201
    )
    others = [world.enroll() for _ in range(3)]
    assert login(others[0], others[0]["access_code"]).status_code == 201
    # Per address: 20 failures over many enrollments lock the address out.
    for other in others:  # 5 failures so far + 3 × 5 = 20
        for _ in range(5):
            assert_problem(login(other, "WRONG"), 401, "invalid_access_code")
    fresh = world.enroll()
    assert_problem(login(fresh, "WRONG"), 429, "too_many_attempts")
    assert login(fresh, fresh["access_code"]).status_code == 201  # the right code: admitted
    assert (
        world.client.post(
            "/api/v1/parent/sessions",
            json={"enrollment_id": fresh["id"], "access_code": fresh["access_code"]},
        ).status_code
        == 201
    )


def test_statement_breaks(world: World) -> None:
    e = world.enroll()
    world.pay(e, txn="ST-1")
    day = START.date().isoformat()
    ok = world.signed(
        "POST",
        "/api/v1/bank/statements",
        {
            "account_no": world.escrow,
            "statement_date": day,
            "opening_balance": "0",
            "closing_balance": "200.00",
            "transactions": [
                {
                    "bank_txn_id": "ST-1",
                    "direction": "credit",
                    "amount": "200.00",
                    "booked_at": START.isoformat(),
                }
            ],
        },
    )
    assert ok.json() == {
        "status": "matched",
        "statement_id": ok.json()["statement_id"],
        "breaks": [],
    }
    bad = world.signed(
        "POST",
        "/api/v1/bank/statements",
        {
            "account_no": world.escrow,
            "statement_date": day,
            "opening_balance": "0",
            "closing_balance": "100.00",
            "transactions": [
                {
                    "bank_txn_id": "ST-1",
                    "direction": "credit",
                    "amount": "200.00",
                    "booked_at": START.isoformat(),
                },
                {
                    "bank_txn_id": "THEFT",
                    "direction": "debit",
                    "amount": "100.00",
                    "booked_at": START.isoformat(),
                },
            ],
        },
    ).json()
    assert bad["status"] == "breaks"
    assert {b["kind"] for b in bad["breaks"]} == {"missing_in_ledger", "balance_differs"}


def test_the_latest_statement_is_kept_and_a_late_one_of_an_earlier_day_does_not_replace_it(
    world: World, engine
) -> None:
    """latest_statements holds what the bank last said (by bank day, then arrival): what the
    workbench's lists and overviews read as the bank's balance."""
    from sqlalchemy import text

    def send(day: date, closing: str) -> None:
        body = {"account_no": world.escrow, "statement_date": day.isoformat(),
                "opening_balance": closing, "closing_balance": closing, "transactions": []}  # fmt: skip
        assert world.signed("POST", "/api/v1/bank/statements", body).status_code == 200

    def latest() -> tuple[str, Decimal]:
        with engine.connect() as conn:
            day, balance = conn.execute(
                text("SELECT statement_date, closing_balance FROM latest_statements "
                     "WHERE account_no = :a"), {"a": world.escrow},
            ).one()  # fmt: skip
        if engine.dialect.name == "sqlite":
            balance = Decimal(balance) / 100
        return day, Decimal(balance).quantize(Decimal("0.01"))

    today = START.date()
    send(today - timedelta(days=1), "0.00")
    assert latest() == ((today - timedelta(days=1)).isoformat(), Decimal("0.00"))
    world.clock.now = START + timedelta(minutes=5)
    send(today, "7.00")
    world.clock.now = START + timedelta(minutes=10)
    send(today - timedelta(days=2), "9.00")  # arrives last, is of an earlier day
    assert latest() == (today.isoformat(), Decimal("7.00"))
    world.clock.now = START + timedelta(minutes=15)
    send(today, "8.00")  # the same day again, later: the bank's correction
    assert latest() == (today.isoformat(), Decimal("8.00"))


def test_ledger_endpoints(world: World) -> None:
    e = world.enroll()
    world.pay(e)
    tb = world.client.get("/api/v1/ledger/trial-balance", headers=bearer(world.reg)).json()
    assert tb["balanced"] is True
    v = world.client.get("/api/v1/ledger/verify", headers=bearer(world.reg)).json()
    assert v["ok"] is True and v["entries_checked"] >= 1, v["problems"]


def test_batch_deposits(world: World) -> None:
    e1, e2, e3 = world.enroll(), world.enroll(), world.enroll()

    def dep(txn: str, ref: str, amount: str, account: str | None = None) -> dict[str, Any]:
        return {
            "bank_txn_id": txn,
            "account_no": account or world.escrow,
            "payment_reference": ref,
            "amount": amount,
            "paid_at": START.isoformat(),
        }

    batch = [
        dep("B-1", e1["payment_reference"], "200.00"),
        dep("B-2", e2["payment_reference"], "150.00"),  # wrong amount
        dep("B-3", "NOBODY", "10.00"),  # unknown reference
        dep("B-1", e1["payment_reference"], "200.00"),  # replay inside the batch
        dep("B-4", e3["payment_reference"], "200.00", account="999"),  # foreign account
        dep("B-5", e1["payment_reference"], "200.00"),  # pays an enrollment paid above
        dep("B-3", "NOBODY", "11.00"),  # conflicting replay inside the batch
    ]
    r = world.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": batch})
    assert r.status_code == 200, r.text
    got = [(x["status"], x.get("reason") or x.get("code")) for x in r.json()["results"]]
    assert got == [
        ("posted", None),
        ("suspense", "amount_mismatch"),
        ("suspense", "unknown_reference"),
        ("posted", None),
        ("error", "foreign_account"),
        ("suspense", "amount_mismatch"),
        ("error", "idempotency_conflict"),
    ]
    again = world.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": batch})
    assert [x.get("deposit_id") for x in again.json()["results"]] == [
        x.get("deposit_id") for x in r.json()["results"]
    ]
    b = world.balances()
    assert (
        b["prepaid_outstanding"] == "200.00"
        and b["suspense"] == "360.00"
        and b["escrow"] == "560.00"
    )
    assert_identity(world)
    assert (
        world.client.get(f"/api/v1/enrollments/{e1['id']}", headers=bearer(world.key)).json()[
            "status"
        ]
        == "active"
    )


def test_large_batch_of_deposits_is_stored_as_answered(world: World, engine: Engine) -> None:
    """A batch of 64 or more deposits writes its rows with COPY on PostgreSQL: every row as
    answered, a replay answers the same and writes nothing, the books stay whole."""
    from sqlalchemy import select

    from service.flows.models import Deposit

    enrolled = [world.enroll() for _ in range(70)]
    batch = [
        {
            "bank_txn_id": f"L-{k}",
            "account_no": world.escrow,
            "payment_reference": e["payment_reference"] if k < 70 else f"NOBODY-{k}",
            "amount": "200.00",
            "paid_at": START.isoformat(),
        }
        for k, e in enumerate([*enrolled, *enrolled[:10]])
    ]
    r = world.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": batch})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["posted"] * 70 + ["suspense"] * 10
    with engine.connect() as c:
        stored = {
            row.id: row
            # The exact ids, not a prefix: other tests sharing this database (test_limits) post
            # deposits whose ids also begin "L-".
            for row in c.execute(
                select(Deposit.__table__).where(
                    Deposit.bank_txn_id.in_([d["bank_txn_id"] for d in batch])
                )
            )
        }
    assert len(stored) == 80
    for item, answer in zip(batch, results, strict=True):
        row = stored[answer["deposit_id"]]
        assert row.bank_txn_id == item["bank_txn_id"] and row.status == answer["status"]
        assert row.enrollment_id == answer.get("enrollment_id")
        assert row.reason == answer.get("reason") and f"{row.amount:.2f}" == "200.00"
    again = world.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": batch})
    assert again.json()["results"] == results
    b = world.balances()
    assert b["prepaid_outstanding"] == "14000.00" and b["suspense"] == "2000.00"
    assert_identity(world)


def test_an_institution_lists_its_own_refunds(world: World, engine: Engine) -> None:
    """GET /refunds is the regulator's and the institution's path (docs/api.md): each gets its
    scope. Before, the regulator's route won and an institution key was 401."""
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    refund = world.client.post(
        "/api/v1/parent/refunds", headers=world.parent(e), json={"reason": "moving"}
    ).json()
    mine = world.client.get("/api/v1/refunds", headers=bearer(world.key))
    assert mine.status_code == 200, mine.text
    assert [r["id"] for r in mine.json()["items"]] == [refund["id"]]
    _, other_key = factories.institution(engine, world.bank.id)
    theirs = world.client.get("/api/v1/refunds", headers=bearer(other_key)).json()
    assert theirs["items"] == []
    scoped = world.client.get("/api/v1/refunds?limit=500", headers=bearer(world.reg)).json()
    assert refund["id"] in [r["id"] for r in scoped["items"]]
