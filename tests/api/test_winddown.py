"""Wind-downs (issue 34) through the API, in process, on SQLite and PostgreSQL: opening one
fixes each parent's claim to the fen, books the money that left escrow with no instruction
against the institution, shuts the gate on deposits; rounds pay pro rata by cumulative rounding
through the bank's instructions; a rejected payment waits for the parent's account; recoveries
pay the owner's debt and the next round; the ledger verifies throughout."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

import ledger
from service.errors import DomainError
from service.flows import rounds, statements
from service.kit.clock import SHANGHAI
from service.kit.db import make_sessionmaker
from service.registry.models import Regulator
from tests.api.approving import approve_pending, at_once, engine_of, through
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem

D = Decimal


def books(engine: Engine, inst_id: str) -> dict[str, Decimal]:
    """The institution's ledger by kind: cash as debit balances, liabilities as credit."""
    with engine.connect() as c:
        kinds = ledger.owner_balances(c, ledger=inst_id)
    asset = {"escrow_cash", "reserve_cash", "receivable"}
    return {k: (b.debit_balance if k in asset else b.credit_balance) for k, b in kinds.items()}


def assert_books(engine: Engine, inst_id: str) -> None:
    """The ledger verifies, and escrow plus what the owner owes the wind-down equals what is
    owed to parents, earned and in suspense (docs/winddown.md "The books")."""
    b = books(engine, inst_id)
    assert b["escrow_cash"] + b.get("receivable", D(0)) == (
        b.get("prepaid", D(0)) + b["earned"] + b["suspense"]
    )
    with engine.connect() as c:
        assert ledger.verify(c).ok


def statement_with_flight(w: World, engine: Engine, taken: str) -> None:
    """The bank's statement of today: every deposit as booked, and `taken` yuan debited with
    no instruction; reviewed by the regulator."""
    with engine.connect() as c:
        from sqlalchemy import text

        deposits = c.execute(
            text("SELECT bank_txn_id, amount FROM deposits WHERE account_no = :a"),
            {"a": w.escrow},
        ).all()
    lines = [
        {"bank_txn_id": t, "direction": "credit", "amount": f"{a:.2f}",
         "booked_at": w.clock.now.isoformat()}
        for t, a in deposits
    ]  # fmt: skip
    lines.append({"bank_txn_id": "XFLIGHT1", "direction": "debit", "amount": taken,
                  "booked_at": w.clock.now.isoformat()})  # fmt: skip
    paid_in = sum((D(a) for _, a in deposits), D(0))
    body = {"account_no": w.escrow, "statement_date": w.clock.now.date().isoformat(),
            "opening_balance": "0.00", "closing_balance": f"{paid_in - D(taken):.2f}",
            "transactions": lines}  # fmt: skip
    r = w.signed("POST", "/api/v1/bank/statements", body)
    assert r.status_code == 200 and r.json()["status"] == "breaks", r.text
    reviewed(w, engine)


def reviewed(w: World, engine: Engine) -> None:
    regulator_id = regulator_of(w, engine)
    with make_sessionmaker(engine).begin() as s:
        from sqlalchemy import select

        from service.flows.models import Statement

        for sid in s.scalars(select(Statement.id).where(Statement.account_no == w.escrow)):
            statements.review(s, regulator=s.get_one(Regulator, regulator_id), statement_id=sid,
                              now=w.clock.now)  # fmt: skip


def regulator_of(w: World, engine: Engine) -> str:
    from sqlalchemy import select

    from service.kit.ids import token_hash

    with make_sessionmaker(engine)() as s:
        found = s.scalar(select(Regulator.id).where(Regulator.token_hash == token_hash(w.reg)))
    assert found is not None
    return found


def open_it(w: World, **over: Any) -> Any:
    body = {"reason": "absconded", "effective_at": w.clock.now.isoformat(),
            "note": "the owner left; the doors are shut"} | over  # fmt: skip
    asked = w.client.post(
        f"/api/v1/institutions/{w.inst_id}/wind-down", json=body, headers=bearer(w.reg)
    )
    # Four eyes (wind_down_open, in the default list): a second supervisor approves.
    return at_once(w.client, engine_of(w.client), asked, 201, lambda a: w.client.get(
        f"/api/v1/wind-downs/{a['wind_down_id']}", headers=bearer(w.reg)).json())  # fmt: skip


def claims(w: World, wd_id: str) -> dict[str, dict[str, Any]]:
    r = w.client.get(f"/api/v1/wind-downs/{wd_id}/claims?limit=500", headers=bearer(w.reg))
    assert r.status_code == 200, r.text
    return {c["enrollment_id"]: c for c in r.json()["items"]}


def a_round(w: World, wd_id: str, **body: str) -> Any:
    asked = w.client.post(f"/api/v1/wind-downs/{wd_id}/rounds", json=body, headers=bearer(w.reg))
    return at_once(w.client, engine_of(w.client), asked, 201, round_made)  # wind_down_round


def round_made(answer: dict[str, Any]) -> dict[str, Any]:
    """POST /wind-downs/{id}/rounds's 201 body from the approved round's answer."""
    return {"id": answer["round_id"]} | {k: answer[k] for k in (
        "seq", "amount", "reissued", "claims_paid", "instructions")}  # fmt: skip


def settle_all(w: World, reject: set[str] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
    """The bank answers every pending instruction of the escrow account: executed, except
    those paying the enrollments in `reject`'s payee routes."""
    pending = w.pending()
    for n, ins in enumerate(pending):
        txns = ins["payee"].get("original_bank_txn_ids", [])
        status = "rejected" if set(txns) & reject else "executed"
        r = w.result(ins["id"], status, f"R{ins['id'][-10:]}{n}")
        assert r.status_code == 200, r.text
    return pending


def test_wind_down_claims_rounds_recovery_and_a_rejected_payment(
    world: World, engine: Engine
) -> None:
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(5)]
    for e in es:
        assert w.pay(e).status_code == 201
    txn = {e["id"]: f"T{w.inst_id[-8:]}{n + 1}" for n, e in enumerate(es)}
    w.clock.now += timedelta(days=2)
    assert w.consume(es[0]["id"], 2).status_code == 201  # 40.00 consumed
    lesson = w.consume(es[1]["id"], 1).json()
    parent1 = w.parent(es[1])
    r = w.client.post(f"/api/v1/parent/consumptions/{lesson['id']}/dispute",
                      json={"reason": "no lesson that day"}, headers=parent1)  # fmt: skip
    assert r.status_code == 200, r.text
    parent2 = w.parent(es[2])
    assert w.client.post("/api/v1/parent/refunds", json={"reason": "moving"},
                         headers=parent2).status_code == 201  # fmt: skip
    parent3 = w.parent(es[3])
    rid3 = w.client.post("/api/v1/parent/refunds", json={"reason": "moving"},
                         headers=parent3).json()["id"]  # fmt: skip
    assert w.client.post(f"/api/v1/refunds/{rid3}/respond", headers=bearer(w.key),
                         json={"decision": "accept", "reason": "ok"}).status_code == 200  # fmt: skip
    statement_with_flight(w, engine, "300.00")

    opened = open_it(w)
    assert opened.status_code == 201, opened.text
    wd = opened.json()
    assert wd["shortfall"] == "300.00"
    assert wd["money"]["escrow"] == "700.00"  # the bank's: 1000 paid in, 300 taken
    # e0: 200 - 40; e1: its disputed lesson counts as not consumed; e2: its refund, not yet
    # instructed, is closed into the claim; e3: its refund is with the bank (claim 0 for now).
    cs = claims(w, wd["id"])
    assert {e["id"]: cs[e["id"]]["claim"] for e in es} == {
        es[0]["id"]: "160.00", es[1]["id"]: "200.00", es[2]["id"]: "200.00",
        es[3]["id"]: "0.00", es[4]["id"]: "200.00",
    }  # fmt: skip
    assert wd["claims"]["total"] == "760.00"
    assert_problem(open_it(w), 409, "wind_down_exists")
    assert_books(engine, w.inst_id)

    # The gate is shut: no fees, no enrollments, no lessons, no refunds.
    late = w.pay(es[0], amount="200.00", txn="TLATE1")
    assert_problem(late, 409, "institution_winding_down")
    r = w.client.post("/api/v1/enrollments", headers=bearer(w.key),
                      json={"course_id": w.course["id"], "student_ref": "x", "lessons": 2,
                            "amount": "40.00"})  # fmt: skip
    assert_problem(r, 409, "institution_winding_down")
    assert_problem(w.consume(es[4]["id"], 1), 409, "institution_winding_down")
    r = w.client.post("/api/v1/parent/refunds", json={"reason": "x"}, headers=w.parent(es[4]))
    assert_problem(r, 409, "institution_winding_down")

    # The refund in flight is settled first: the bank rejects it, so it joins the claim.
    (refund_ins,) = w.pending()
    assert w.result(refund_ins["id"], "rejected", "RREF3").status_code == 200
    assert claims(w, wd["id"])[es[3]["id"]]["claim"] == "200.00"

    # Round 1: 700 of 960 owed: pro rata, cumulative rounding, to the fen.
    r1 = a_round(w, wd["id"])
    assert r1.status_code == 201, r1.text
    assert r1.json()["amount"] == "700.00" and r1.json()["instructions"] == 5
    cs = claims(w, wd["id"])
    in_flight = [D(c["in_flight"]) for c in cs.values()]
    assert sum(in_flight) == D("700.00")
    for c in cs.values():
        exact = D("700") * D(c["claim"]) / D("960")
        assert abs(D(c["in_flight"]) - exact) < D("0.01")
    assert_problem(a_round(w, wd["id"]), 422, "nothing_to_distribute")
    assert_books(engine, w.inst_id)
    settle_all(w, reject={txn[es[4]["id"]]})
    cs = claims(w, wd["id"])
    assert cs[es[4]["id"]]["status"] == "unreachable"
    assert D(cs[es[4]["id"]]["held"]) > 0
    assert sum(D(c["paid"]) for c in cs.values()) == D("700.00") - D(cs[es[4]["id"]]["held"])

    # A recovery: the bank pays 400 in with the wind-down's reference.
    rec = w.pay({"payment_reference": wd["payment_reference"], "amount_due": "400.00"},
                txn="TRECOVER1")  # fmt: skip
    assert rec.status_code == 201, rec.text
    view = w.client.get(f"/api/v1/wind-downs/{wd['id']}", headers=bearer(w.reg)).json()
    assert view["money"]["recovered"] == "400.00"
    b = books(engine, w.inst_id)
    assert b["receivable"] == D("0.00")  # the owner's 300 repaid first, 100 more put in
    assert_books(engine, w.inst_id)

    # Round 2 shares the 260 still owed; the unreachable parent's share is held too.
    r2 = a_round(w, wd["id"])
    assert r2.status_code == 201, r2.text
    assert r2.json()["amount"] == "260.00"
    settle_all(w)
    cs = claims(w, wd["id"])
    assert all(c["status"] == "paid" for e, c in cs.items() if e != es[4]["id"])
    assert cs[es[4]["id"]]["status"] == "unreachable"
    assert cs[es[4]["id"]]["held"] == "200.00"

    # The parent names an account; the next round pays it there, whole.
    parent4 = w.parent(es[4])
    page = w.client.get("/api/v1/parent/wind-down", headers=parent4).json()
    assert page["claim"] == "200.00" and page["outstanding"] == "200.00"
    r = w.client.post("/api/v1/parent/wind-down/payee", json={"account_no": "6222020000001"},
                      headers=parent4)  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "open", r.text
    r3 = a_round(w, wd["id"])
    assert r3.status_code == 201, r3.text
    assert r3.json()["reissued"] == "200.00" and r3.json()["amount"] == "0.00"
    (ins,) = w.pending()
    assert ins["payee"] == {"account_no": "6222020000001"} and ins["amount"] == "200.00"
    settle_all(w)
    cs = claims(w, wd["id"])
    assert all(c["status"] == "paid" and c["outstanding"] == "0.00" for c in cs.values())
    page = w.client.get("/api/v1/parent/wind-down", headers=parent4).json()
    assert page["paid"] == "200.00" and page["outstanding"] == "0.00"
    view = w.client.get(f"/api/v1/wind-downs/{wd['id']}", headers=bearer(w.reg)).json()
    assert view["claims"]["paid"] == view["claims"]["total"] == "960.00"
    assert [r["status"] for r in view["rounds"]] == ["settled"] * 3
    assert_books(engine, w.inst_id)

    csv = w.client.get(f"/api/v1/wind-downs/{wd['id']}/claims.csv", headers=bearer(w.reg))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    body = csv.text
    assert "6222020000001" in body and "rejected" in body
    assert body.count("\n") >= 1 + 5 + 5  # header, round 1's five, round 2's, round 3's


def test_opening_is_scoped_and_checked(world: World, engine: Engine) -> None:
    w = world
    from tests import factories

    _, other = factories.regulator(engine, "110000")
    body = {"reason": "absconded", "effective_at": w.clock.now.isoformat(), "note": "n"}
    r = w.client.post(f"/api/v1/institutions/{w.inst_id}/wind-down", json=body,
                      headers=bearer(other))  # fmt: skip
    assert_problem(r, 404, "not_found")
    assert_problem(open_it(w, reason="bankrupt"), 422, "validation_error")
    later = (w.clock.now + timedelta(days=1)).isoformat()
    assert_problem(open_it(w, effective_at=later), 422, "effective_in_future")
    assert open_it(w).status_code == 201


def test_two_rounds_at_once_one_distributes(world: World, engine: Engine, backend: str) -> None:
    """Two regulators' requests at once: the wind-down's row queues them; the second finds
    everything allocated."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: no two rounds can interleave")
    w = world
    for _ in range(3):
        assert w.pay(w.enroll(lessons=10, amount="200.00")).status_code == 201
    wd = open_it(w).json()
    regulator_id = regulator_of(w, engine)
    sessions = make_sessionmaker(engine)
    barrier, outcomes = threading.Barrier(2), []

    def run() -> None:
        try:
            with sessions.begin() as s:
                barrier.wait()
                rounds.make_round(s, regulator=s.get_one(Regulator, regulator_id),
                                  wind_down_id=wd["id"], amount=None, now=w.clock.now)  # fmt: skip
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["nothing_to_distribute", "ok"], outcomes
    assert len(w.pending()) == 3
    assert_books(engine, w.inst_id)


def test_from_the_workbench_and_the_parents_page(world: World, engine: Engine) -> None:
    """Two pages, in Chinese and English: the institution's file opens the wind-down, the
    wind-down's page distributes a round; the parent's page shows the claim and each round."""
    import re

    from fastapi.testclient import TestClient

    from service.pages.workbench.common import SUBMITTED
    from tests.api.test_workbench_pages import sign_in
    from tests.api.told import told

    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(3)]
    for e in es:
        assert w.pay(e).status_code == 201
    c = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = sign_in(c, w.reg)
    page = c.get(f"/workbench/institutions/{w.inst_id}")
    assert "/wind-down" in page.text and "启动清算" in page.text
    at = w.clock.now.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
    r = c.post(f"/workbench/institutions/{w.inst_id}/wind-down",
               data={"csrf": csrf, "reason": "absconded", "effective_at": at, "note": "跑路"})  # fmt: skip
    assert told(c, r) == ("done", SUBMITTED)  # four eyes: a second supervisor opens it
    (opened,) = approve_pending(engine, regulator_of(w, engine), lambda: w.clock.now)
    assert opened is not None and opened["ok"], opened
    wd_id = opened["answer"]["wind_down_id"]
    zh = c.get(f"/workbench/wind-downs/{wd_id}?lang=zh")
    assert zh.status_code == 200 and "债权合计" in zh.text and "¥600.00" in zh.text
    en = c.get(f"/workbench/wind-downs/{wd_id}?lang=en")
    assert "Claims in all" in en.text and "Absconded" in en.text
    r = c.post(f"/workbench/wind-downs/{wd_id}/rounds", data={"csrf": csrf, "amount": "abc"})
    assert told(c, r) == ("problem", "The amount is not valid.") and len(w.pending()) == 0
    r = c.post(f"/workbench/wind-downs/{wd_id}/rounds", data={"csrf": csrf, "amount": ""})
    assert told(c, r) == ("done", SUBMITTED) and len(w.pending()) == 0
    (made,) = approve_pending(engine, regulator_of(w, engine), lambda: w.clock.now)
    assert made is not None and made["ok"] and made["answer"]["claims_paid"] == 3, made
    assert len(w.pending()) == 3
    settle_all(w)

    p = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    assert p.get(f"/parent/e/{es[0]['id']}").status_code == 200
    r = p.post("/parent/sign-in", data={"enrollment_id": es[0]["id"],
                                        "access_code": es[0]["access_code"],
                                        "csrf": p.cookies["tg_pcsrf"]})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    mine = p.get("/parent")
    assert "您的债权" in mine.text and "第 1 轮" in mine.text and "已全额支付" in mine.text
    assert re.search(r'data-testid="claim">\s*¥200\.00', mine.text)
    assert "Your claim" in p.get("/parent?lang=en").text


@pytest.mark.parametrize(
    ("rate", "claim", "interest"), [(None, "200.00", "0.00"), ("0.0365", "200.20", "0.20")]
)
def test_interest_where_the_regions_rule_sets_a_rate(
    world: World, engine: Engine, rate: str | None, claim: str, interest: str
) -> None:
    """The region's `wind_down.interest_rate_annual`, under two packs: with none (the
    national default) each claim is its balance; with a rate, its balance plus simple
    interest from the effective day to the opening, booked as the institution's debt."""
    from tests import factories

    w = world
    e = w.enroll(lessons=10, amount="200.00")
    assert w.pay(e).status_code == 201
    rule = {"wind_down": {"value": {"interest_rate_annual": rate},
                          "source": {"title": "预付式消费司法解释", "issuer": "最高人民法院",
                                     "number": "法释〔2025〕4号"}}}  # fmt: skip
    try:
        if rate is not None:
            made = w.client.post("/api/v1/rule-packs", headers=bearer(w.reg), json={
                "region_code": "220102", "sector": "all",
                "effective_from": w.clock.now.astimezone(SHANGHAI).date().isoformat(),
                "rules": rule, "reason": "interest on prepaid balances"})  # fmt: skip
            assert made.status_code in (201, 202), made.text
            through(w.client, engine, made)  # rule_pack_change is four-eyes too: approved here
        ten_days_ago = (w.clock.now - timedelta(days=10)).isoformat()
        opened = open_it(w, effective_at=ten_days_ago)
        assert opened.status_code == 201, opened.text
        wd = opened.json()
        # 200.00 × 3.65% × 10 / 365 = 0.20
        assert claims(w, wd["id"])[e["id"]]["claim"] == claim
        assert books(engine, w.inst_id).get("receivable", D("0")) == D(interest)
        assert_books(engine, w.inst_id)
    finally:
        factories.drop_pack_overrides(engine, "220102")


def test_opening_and_a_round_each_wait_for_a_second_supervisor(
    world: World, engine: Engine
) -> None:
    """Four eyes (docs/api.md, the default list has both): each request answers 202 and
    changes nothing; the requester, a supervisor, cannot approve it; another supervisor's
    approval runs it once."""
    from tests import factories
    from tests.api.approving import sign_in

    w = world
    for _ in range(2):
        assert w.pay(w.enroll(lessons=10, amount="150.00")).status_code == 201
    office = regulator_of(w, engine)
    asker, chief = (sign_in(w.client, factories.officer(engine, office, "supervisor"))
                    for _ in range(2))  # fmt: skip

    def decide(token: str, approval: dict[str, Any]) -> Any:
        return w.client.post(f"/api/v1/approvals/{approval['id']}/approve",
                             headers=bearer(token), json={"note": "seen"})  # fmt: skip

    body = {"reason": "absconded", "effective_at": w.clock.now.isoformat(), "note": "gone"}
    asked = w.client.post(f"/api/v1/institutions/{w.inst_id}/wind-down", json=body,
                          headers=bearer(asker))  # fmt: skip
    assert asked.status_code == 202, asked.text
    opening = asked.json()["approval"]
    assert (opening["action"], opening["status"]) == ("wind_down_open", "pending")
    facts = {f["label"]: f["value"] for f in opening["description"]}
    assert facts["institution_id"] == w.inst_id and facts["wind_down_reason"] == "absconded"
    assert facts["effective_at"] == body["effective_at"] and facts["note"] == "gone"
    inst = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()
    assert inst["status"] != "winding_down"
    assert w.pay(w.enroll(lessons=10, amount="50.00")).status_code == 201  # still trading
    assert_problem(decide(asker, opening), 403, "approval_by_requester")
    done = decide(chief, opening)
    assert done.status_code == 200 and done.json()["result"]["ok"], done.text
    wd_id = done.json()["result"]["answer"]["wind_down_id"]
    assert_problem(decide(chief, opening), 409, "approval_decided")  # opened once
    view = w.client.get(f"/api/v1/wind-downs/{wd_id}", headers=bearer(w.reg)).json()
    assert Decimal(view["claims"]["total"]) == Decimal("350.00"), view

    asked = w.client.post(f"/api/v1/wind-downs/{wd_id}/rounds", json={"amount": "35.00"},
                          headers=bearer(asker))  # fmt: skip
    assert asked.status_code == 202, asked.text
    rnd = asked.json()["approval"]
    assert (rnd["action"], rnd["status"]) == ("wind_down_round", "pending")
    facts = {f["label"]: f["value"] for f in rnd["description"]}
    assert (facts["wind_down_id"], facts["amount"]) == (wd_id, "35.00")
    assert w.pending() == [] and not w.client.get(
        f"/api/v1/wind-downs/{wd_id}", headers=bearer(w.reg)).json()["rounds"]  # fmt: skip
    assert_problem(decide(asker, rnd), 403, "approval_by_requester")
    done = decide(chief, rnd)
    assert done.status_code == 200 and done.json()["result"]["ok"], done.text
    assert done.json()["result"]["answer"]["amount"] == "35.00"
    assert_problem(decide(chief, rnd), 409, "approval_decided")
    assert len(w.pending()) == 3  # one instruction a claim, once
    view = w.client.get(f"/api/v1/wind-downs/{wd_id}", headers=bearer(w.reg)).json()
    assert [r["seq"] for r in view["rounds"]] == [1]
    assert_books(engine, w.inst_id)


def test_an_approved_round_goes_to_the_bank_at_once_by_either_door(
    world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round approved in the approvals queue (the API's or the workbench's) is pushed to the
    bank when the approval commits, as a round asked without four eyes is: nothing waits for
    the next delivery job."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient
    from sqlalchemy import update

    from service.bank_gateway import delivery
    from service.registry.models import Bank
    from tests import factories
    from tests.api.approving import sign_in
    from tests.api.test_officers import _page_sign_in

    w = world
    with make_sessionmaker(engine).begin() as s:
        s.execute(update(Bank).where(Bank.id == w.bank.id)
                  .values(instruction_url="https://bank.test/instructions"))  # fmt: skip
    pushed: list[str] = []

    def push(client: Any, *, url: str, payload: dict[str, Any], **_: Any) -> tuple[bool, int, None]:
        pushed.append(str(payload["id"]))
        return True, 1, None

    monkeypatch.setattr(delivery, "push", push)
    for _ in range(2):
        assert w.pay(w.enroll(lessons=10, amount="150.00")).status_code == 201
    office = regulator_of(w, engine)
    asker, chief = (sign_in(w.client, factories.officer(engine, office, "supervisor"))
                    for _ in range(2))  # fmt: skip
    wd_id = open_it(w).json()["id"]

    asked = w.client.post(f"/api/v1/wind-downs/{wd_id}/rounds", json={"amount": "30.00"},
                          headers=bearer(asker))  # fmt: skip
    assert asked.status_code == 202 and pushed == [], asked.text
    done = w.client.post(f"/api/v1/approvals/{asked.json()['approval']['id']}/approve",
                         headers=bearer(chief), json={"note": "seen"})  # fmt: skip
    assert done.status_code == 200 and done.json()["result"]["ok"], done.text
    assert len(pushed) == 2  # both payments pushed when the approval committed
    with engine.connect() as c:
        from sqlalchemy import text

        undelivered = c.execute(text("SELECT count(*) FROM instructions WHERE institution_id = "
                                     ":i AND delivered_at IS NULL"), {"i": w.inst_id}).scalar()  # fmt: skip
    assert undelivered == 0

    def pages(role: str) -> tuple[TestClient, str]:
        page = TestClient(w.client.app, follow_redirects=False, raise_server_exceptions=False)
        made = factories.officer(engine, office, role)
        page.cookies.update(_page_sign_in(page, made, w.clock.now - datetime.now(UTC)))
        found = re.search(r'name="csrf" value="([^"]+)"', page.get("/workbench").text)
        assert found is not None
        return page, found.group(1)

    officer, csrf = pages("officer")
    r = officer.post(f"/workbench/wind-downs/{wd_id}/rounds", data={"csrf": csrf, "amount": "20"})
    assert r.status_code == 303 and len(pushed) == 2  # waits for a second person
    head, head_csrf = pages("supervisor")
    queue = head.get("/workbench/approvals?lang=en").text
    # The queue shows the region's requests, other tests' included: this wind-down's round.
    with engine.connect() as c:
        approval = c.execute(text("SELECT id FROM approvals WHERE target = :t AND status = "
                                  "'pending'"), {"t": wd_id}).scalar_one()  # fmt: skip
    assert f"/workbench/approvals/{approval}/approve" in queue
    r = head.post(f"/workbench/approvals/{approval}/approve",
                  data={"csrf": head_csrf, "note": "看过"})  # fmt: skip
    assert r.status_code == 303 and len(pushed) == 4, r.text  # pushed by the queue's commit
    assert len(set(pushed)) == 4


def test_the_risk_engine_judges_a_wound_up_school_by_its_wind_down(
    world: World, engine: Engine
) -> None:
    """Once its wind-down is open, a sweep shows the institution critical with the wind-down
    alone as its sign and evidence (its trading signs, a surge or a silent bank, are not
    scored), from the moment it opens; the case already open for its escrow shortfall takes the wind-down, at its top,
    and no second case is opened, sweep after sweep; a sweep of an instant before the
    opening does not see it. The workbench names the sign, the reason and links the
    wind-down, in Chinese."""
    from fastapi.testclient import TestClient

    from tests.api.test_risk import level, my_alerts, sweep
    from tests.api.test_workbench_pages import sign_in

    w = world
    for _ in range(3):
        assert w.pay(w.enroll(lessons=10, amount="200.00")).status_code == 201
    statement_with_flight(w, engine, "300.00")
    before = w.clock.now
    sweep(w, before)
    assert "escrow_shortfall" in {i["code"] for i in level(w)["indicators"]}
    (case,) = my_alerts(w)
    w.clock.now += timedelta(hours=1)
    wd = open_it(w).json()
    # Judged at once, by the opening itself, not at the next sweep.
    risk = level(w)
    assert (risk["level"], [i["code"] for i in risk["indicators"]]) == ("critical", ["wind_down"])
    assert [a["id"] for a in my_alerts(w)] == [case["id"]]

    for hours in (2, 30):  # two sweeps: one case all along
        sweep(w, before + timedelta(hours=hours))
        risk = level(w)
        assert (risk["level"], risk["score"]) == ("critical", 100), risk
        assert [(i["code"], i["value"], i["evidence"]) for i in risk["indicators"]] == [
            ("wind_down", "absconded", [wd["id"]])
        ]
        cases = my_alerts(w)
        assert [a["id"] for a in cases] == [case["id"]], cases
        assert cases[0]["level"] == "critical"
        assert cases[0]["indicators"][0]["code"] == "wind_down"
        assert "escrow_shortfall" in {i["code"] for i in cases[0]["indicators"]}
    inst = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()
    assert inst["status"] == "winding_down"  # not frozen by the critical level: wound up

    sweep(w, before + timedelta(minutes=30))  # as of before the opening: not seen
    history = w.client.get(f"/api/v1/institutions/{w.inst_id}/risk-history",
                           headers=bearer(w.reg)).json()  # fmt: skip
    earlier = [h for h in history["items"] if "wind_down" not in {
        i["code"] for i in h["indicators"]}]  # fmt: skip
    assert len(earlier) == 2, history  # the sweep before the opening and the one back in time

    pages = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    sign_in(pages, w.reg)
    page = pages.get(f"/workbench/institutions/{w.inst_id}?lang=zh").text
    assert "清算中" in page and "跑路" in page, page[:2000]
    assert f'href="/workbench/wind-downs/{wd["id"]}"' in page


def test_an_accepted_transfer_goes_to_the_bank_at_once(
    world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parent accepting a successor school (the API or their page) makes one transfer
    instruction: pushed to the bank when the answer commits, as a round's payments are."""
    from sqlalchemy import update

    from service.bank_gateway import delivery
    from service.registry.models import Bank
    from tests.api.test_successors import decide, offer, successor

    w = world
    with make_sessionmaker(engine).begin() as s:
        s.execute(update(Bank).where(Bank.id == w.bank.id)
                  .values(instruction_url="https://bank.test/instructions"))  # fmt: skip
    pushed: list[tuple[str, str]] = []

    def push(client: Any, *, url: str, payload: dict[str, Any], **_: Any) -> tuple[bool, int, None]:
        pushed.append((str(payload["id"]), str(payload["kind"])))
        return True, 1, None

    monkeypatch.setattr(delivery, "push", push)
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(2)]
    for e in es:
        assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    assert offer(w, wd["id"], good["id"])["offers"] == 2
    assert decide(w, w.parent(es[0]), "accept").status_code == 200
    assert [k for _, k in pushed] == ["transfer"]

    from fastapi.testclient import TestClient

    p = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    p.get(f"/parent/e/{es[1]['id']}")
    r = p.post("/parent/sign-in", data={"enrollment_id": es[1]["id"],
                                        "access_code": es[1]["access_code"],
                                        "csrf": p.cookies["tg_pcsrf"]})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    found = re.search(r'name="csrf" value="([^"]+)"', p.get("/parent").text)
    assert found is not None
    r = p.post("/parent/wind-down/offer", data={"decision": "accept", "csrf": found.group(1)})
    assert r.status_code == 303, r.text[:300]
    assert [k for _, k in pushed] == ["transfer", "transfer"] and len(set(pushed)) == 2
