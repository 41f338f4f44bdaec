"""Successor schools (issue 34) through the API, in process, on SQLite and PostgreSQL: a
regulator offers the parents of a school being wound up a willing institution (four eyes); the
refusals of a successor that is not one; a parent accepts and the claim's part of the money
moves to the successor's escrow by one bank instruction (`kind: transfer`), the enrollment
continuing there; another declines; a third says nothing until the deadline; a later round
pays only the claims kept; two accepts at once move the money once (PostgreSQL)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from service.errors import DomainError
from service.flows import successors
from service.flows.models import Instruction
from service.kit.db import make_sessionmaker
from service.pages.parent.routes import REFUSALS
from tests import factories
from tests.api.approving import engine_of, through
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem
from tests.api.test_winddown import (
    a_round,
    assert_books,
    books,
    claims,
    open_it,
    settle_all,
    statement_with_flight,
)

D = Decimal


def successor(w: World, *, course: bool = True) -> dict[str, Any]:
    """A willing school of the region at the same bank, with a maths course of 40 sessions
    from next week."""
    body = factories.institution_body(w.bank.id)
    inst = w.client.post("/api/v1/institutions", json=body, headers=bearer(w.reg))
    assert inst.status_code == 201, inst.text
    made: dict[str, Any] = inst.json() | {"escrow_account_no": body["escrow_account_no"]}
    if course:
        r = w.client.post("/api/v1/courses", json=factories.course_body("2026-11-30", n=40),
                          headers=bearer(made["api_key"]))  # fmt: skip
        assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    return made


def offer(w: World, wd_id: str, successor_id: str, **body: Any) -> Any:
    """Ask for the offer; approved by a second supervisor (successor_offer is four-eyes by
    default): the offers made, as the 201 answers them."""
    asked = w.client.post(f"/api/v1/wind-downs/{wd_id}/successor-offers",
                          json={"successor_institution_id": successor_id} | body,
                          headers=bearer(w.reg))  # fmt: skip
    if asked.status_code != 202:
        return asked
    answer = through(w.client, engine_of(w.client), asked)
    return answer


def decide(w: World, parent: dict[str, str], decision: str) -> Any:
    return w.client.post("/api/v1/parent/wind-down/offer", json={"decision": decision},
                         headers=parent)  # fmt: skip


def test_offer_accept_decline_silence_and_a_later_round(world: World, engine: Engine) -> None:
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(4)]
    for e in es:
        assert w.pay(e).status_code == 201
    w.clock.now += timedelta(days=2)
    assert w.consume(es[0]["id"], 2).status_code == 201  # claim 160.00
    statement_with_flight(w, engine, "300.00")  # 500 left of 760 owed
    wd = open_it(w).json()
    owed = {k: D(v["claim"]) for k, v in claims(w, wd["id"]).items()}
    assert sum(owed.values()) == D("760.00")
    assert a_round(w, wd["id"]).status_code == 201
    settle_all(w)  # 500 of 760 paid, pro rata
    rec = w.pay({"payment_reference": wd["payment_reference"], "amount_due": "100.00"},
                txn="TRECOVER1")  # fmt: skip
    assert rec.status_code == 201, rec.text

    # The refusals: another region's school, the school being wound up, one with no course.
    good = successor(w)
    _, beijing = factories.regulator(engine, "110000")
    far = w.client.post("/api/v1/institutions", headers=bearer(beijing),
                        json=factories.institution_body(w.bank.id, region="110101"))  # fmt: skip
    assert far.status_code == 201, far.text
    assert_problem(offer(w, wd["id"], far.json()["id"]), 422, "successor_out_of_scope")
    assert_problem(offer(w, wd["id"], "ins_nobody"), 422, "successor_out_of_scope")
    assert_problem(offer(w, wd["id"], w.inst_id), 409, "successor_not_active")
    assert_problem(offer(w, wd["id"], successor(w, course=False)["id"]), 422,
                   "successor_no_course")  # fmt: skip
    assert_problem(offer(w, wd["id"], good["id"], enrollment_ids=["enr_nobody"]), 404,
                   "not_found")  # fmt: skip

    made = offer(w, wd["id"], good["id"])
    assert made["offers"] == 4, made
    assert_problem(offer(w, wd["id"], good["id"]), 422, "nothing_to_offer")  # all offered
    parents = [w.parent(e) for e in es]
    page = w.client.get("/api/v1/parent/wind-down", headers=parents[0]).json()
    assert page["offer"]["successor"]["name"] == good["name"]
    assert page["offer"]["lessons"] == 8 and page["offer"]["status"] == "offered"

    # e0 accepts: its part of the 100 available, pro rata to what each claim is still owed.
    before = claims(w, wd["id"])
    unallocated = sum(owed[k] - D(c["paid"]) for k, c in before.items())
    mine = owed[es[0]["id"]] - D(before[es[0]["id"]]["paid"])
    share = (mine * D("100") / unallocated).quantize(D("0.01"), ROUND_HALF_UP)
    r = decide(w, parents[0], "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "transferred" and r.json()["outstanding"] == "0.00"
    assert r.json()["offer"]["amount"] == f"{share:.2f}"
    assert decide(w, parents[0], "accept").json() == r.json()  # the same again: the same
    assert_problem(decide(w, parents[0], "decline"), 409, "offer_decided")
    (ins,) = w.pending()
    assert ins["kind"] == "transfer" and ins["amount"] == f"{share:.2f}"
    assert ins["payee"]["account_no"] == good["escrow_account_no"]
    settle_all(w)
    # e1 declines; e2 accepts; e3 says nothing.
    assert decide(w, parents[1], "decline").json()["offer"]["status"] == "declined"
    assert_problem(decide(w, parents[1], "accept"), 409, "offer_decided")
    assert decide(w, parents[2], "accept").status_code == 200
    settle_all(w)
    w.clock.now += timedelta(days=15)
    parents = [w.parent(e) for e in es]  # sessions do not last a fortnight
    assert_problem(decide(w, parents[3], "accept"), 409, "offer_expired")
    page3 = w.client.get("/api/v1/parent/wind-down", headers=parents[3]).json()
    assert page3["offer"]["status"] == "expired" and page3["status"] == "open"

    # A later round pays the claims kept, never the transferred ones.
    a_round(w, wd["id"])
    settle_all(w)
    cs = claims(w, wd["id"])
    for k, c in cs.items():
        exact = D("600") * owed[k] / D("760")
        given = D(c["paid"]) + D(c["transferred"])
        assert abs(given - exact) <= D("0.02"), (k, given, exact)
    for e in (es[0], es[2]):
        c = cs[e["id"]]
        assert c["status"] == "transferred" and c["successor_institution_id"] == good["id"]
        assert c["outstanding"] == "0.00" and c["in_flight"] == "0.00"
    assert {cs[es[1]["id"]]["status"], cs[es[3]["id"]]["status"]} == {"open"}
    paid = sum(D(c["paid"]) for c in cs.values())
    moved = sum(D(c["transferred"]) for c in cs.values())
    assert paid + moved == D("600.00")
    view = w.client.get(f"/api/v1/wind-downs/{wd['id']}", headers=bearer(w.reg)).json()
    kept = owed[es[1]["id"]] + owed[es[3]["id"]]
    assert D(view["claims"]["outstanding"]) == kept - D(cs[es[1]["id"]]["paid"]) - D(
        cs[es[3]["id"]]["paid"]
    )
    assert_books(engine, w.inst_id)

    # The successor's books: the money arrived as the deposits paying the continued
    # enrollments, which go on with their lessons.
    b = books(engine, good["id"])
    assert b["escrow_cash"] == b["prepaid"] == moved
    assert_books(engine, good["id"])
    continued = page_of(w, parents[0])["offer"]["successor_enrollment_id"]
    e = w.client.get(f"/api/v1/enrollments/{continued}", headers=bearer(good["api_key"])).json()
    assert e["status"] == "active" and e["balance"] == cs[es[0]["id"]]["transferred"]
    assert e["lessons"] == 8
    r = w.client.post("/api/v1/parent/sessions", json={"enrollment_id": continued,
                      "access_code": es[0]["access_code"]})  # fmt: skip
    assert r.status_code == 201, r.text  # the parent signs in there with the same code


def page_of(w: World, parent: dict[str, str]) -> Any:
    return w.client.get("/api/v1/parent/wind-down", headers=parent).json()


def test_a_transfer_the_bank_refuses_leaves_the_claim_open(world: World, engine: Engine) -> None:
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(2)]
    for e in es:
        assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    assert offer(w, wd["id"], good["id"], enrollment_ids=[es[0]["id"]])["offers"] == 1
    parent = w.parent(es[0])
    assert decide(w, parent, "accept").json()["offer"]["amount"] == "200.00"  # money covers
    (ins,) = w.pending()
    assert w.result(ins["id"], "rejected", "RXFER1").status_code == 200
    page = page_of(w, parent)
    assert page["status"] == "open" and page["offer"]["status"] == "failed"
    c = claims(w, wd["id"])[es[0]["id"]]
    assert c["in_flight"] == "0.00" and c["successor_institution_id"] is None
    r = a_round(w, wd["id"])
    assert r.status_code == 201 and r.json()["amount"] == "400.00"
    settle_all(w)
    assert all(c["status"] == "paid" for c in claims(w, wd["id"]).values())
    assert_books(engine, w.inst_id)
    assert_books(engine, good["id"])


def test_two_accepts_at_once_move_the_money_once(
    world: World, engine: Engine, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: no two accepts can interleave")
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(2)]
    for e in es:
        assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    assert offer(w, wd["id"], good["id"])["offers"] == 2
    sessions = make_sessionmaker(engine)
    barrier, outcomes = threading.Barrier(2), []

    def run() -> None:
        try:
            with sessions.begin() as s:
                barrier.wait()
                o = successors.decide(s, enrollment_id=es[0]["id"], decision="accept",
                                      now=w.clock.now)  # fmt: skip
                outcomes.append(o.status)
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert outcomes == ["accepted", "accepted"], outcomes
    with sessions() as s:
        made = s.scalars(select(Instruction).where(
            Instruction.kind == "transfer", Instruction.institution_id == w.inst_id)).all()  # fmt: skip
    assert len(made) == 1 and made[0].amount == D("200.00")
    settle_all(w)
    assert claims(w, wd["id"])[es[0]["id"]]["transferred"] == "200.00"
    assert_books(engine, w.inst_id)
    assert_books(engine, good["id"])


def test_from_the_workbench_and_the_parents_page(world: World, engine: Engine) -> None:
    """The wind-down's page offers a successor (four eyes) and shows the transfers; the
    parent's page shows the offer with its two buttons, in Chinese and English, and accepting
    there moves the money."""
    import re

    from fastapi.testclient import TestClient

    from service.pages.workbench.common import SUBMITTED
    from tests.api.approving import approve_pending
    from tests.api.test_winddown import regulator_of
    from tests.api.test_workbench_pages import sign_in
    from tests.api.told import told

    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(2)]
    for e in es:
        assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    c = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    csrf = sign_in(c, w.reg)
    zh = c.get(f"/workbench/wind-downs/{wd['id']}?lang=zh")
    assert "推荐承接学校" in zh.text and f'value="{good["id"]}"' in zh.text
    assert f'value="{w.inst_id}"' not in zh.text  # the school being wound up is no successor
    r = c.post(f"/workbench/wind-downs/{wd['id']}/successor-offers",
               data={"csrf": csrf, "successor_institution_id": w.inst_id})  # fmt: skip
    assert told(c, r)[0] == "problem"
    r = c.post(f"/workbench/wind-downs/{wd['id']}/successor-offers",
               data={"csrf": csrf, "successor_institution_id": good["id"]})  # fmt: skip
    assert told(c, r) == ("done", SUBMITTED)  # four eyes: a second supervisor offers it
    (done,) = approve_pending(engine, regulator_of(w, engine), lambda: w.clock.now)
    assert done is not None and done["ok"] and done["answer"]["offers"] == 2, done

    p = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    r = p.post("/parent/sign-in", data={"enrollment_id": es[0]["id"],
                                        "access_code": es[0]["access_code"],
                                        "csrf": p.cookies.get("tg_pcsrf") or _pcsrf(p, es[0])})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    mine = p.get("/parent?lang=zh")
    assert "接受承接学校" in mine.text and "拒绝：保留我的债权" in mine.text
    assert good["name"] in mine.text
    en = p.get("/parent?lang=en").text
    assert "Accept the new school" in en and "Decline: keep my claim" in en
    token = re.search(r'name="csrf" value="([^"]+)"', mine.text)
    assert token is not None
    r = p.post("/parent/wind-down/offer", data={"csrf": token.group(1), "decision": "accept"})
    assert r.status_code == 303, r.text[:300]
    after = p.get("/parent?lang=zh").text
    assert "已接受：银行正在划转款项" in after and 'data-testid="offer-continued"' in after
    (ins,) = w.pending()
    assert ins["kind"] == "transfer" and ins["amount"] == "200.00"
    settle_all(w)
    page = c.get(f"/workbench/wind-downs/{wd['id']}?lang=zh").text
    assert 'data-testid="transfers"' in page and "已转移" in page and "¥200.00" in page
    assert_books(engine, w.inst_id)
    assert_books(engine, good["id"])


def _pcsrf(p: Any, e: dict[str, Any]) -> str:
    assert p.get(f"/parent/e/{e['id']}").status_code == 200
    token: str = p.cookies["tg_pcsrf"]
    return token


def test_a_lesson_before_the_opening_disputed_after_it(world: World, engine: Engine) -> None:
    """The contract counts a lesson disputed in its window as not consumed, and the window of a
    lesson held before the opening runs on after it: disputed and reversed then, its amount
    joins the claim, which the rounds pay (docs/winddown.md "Opening", 3). A claim already
    transferred is settled for the parent (the successor teaches the lessons counted left), so
    no dispute or reversal may change it behind the claims' back: 409 `invalid_state`, `state:
    transferred`, the claim, the books and the lesson as they were."""
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(3)]
    for e in es:
        assert w.pay(e).status_code == 201
    w.clock.now += timedelta(days=2)
    lessons = [w.consume(e["id"], 2).json() for e in es]  # 40.00 each, in their window
    wd = open_it(w).json()
    assert {c["claim"] for c in claims(w, wd["id"]).values()} == {"160.00"}
    parents = [w.parent(e) for e in es]

    def dispute(n: int) -> Any:
        return w.client.post(f"/api/v1/parent/consumptions/{lessons[n]['id']}/dispute",
                             json={"reason": "no lesson that day"}, headers=parents[n])  # fmt: skip

    def reverse(n: int) -> Any:
        return w.client.post(f"/api/v1/consumptions/{lessons[n]['id']}/decide",
                             json={"decision": "reverse", "reason": "not held"},
                             headers=bearer(w.reg))  # fmt: skip

    assert dispute(2).status_code == 200  # before its claim moves
    good = successor(w)
    assert offer(w, wd["id"], good["id"], enrollment_ids=[es[0]["id"], es[2]["id"]])["offers"] == 2
    for n in (0, 2):
        assert decide(w, parents[n], "accept").status_code == 200
    settle_all(w)
    before = claims(w, wd["id"])
    assert before[es[0]["id"]]["status"] == before[es[2]["id"]]["status"] == "transferred"

    for refused in (dispute(0), reverse(2)):
        assert_problem(refused, 409, "invalid_state")
        assert refused.json()["state"] == "transferred"
    assert claims(w, wd["id"]) == before
    listed = w.client.get("/api/v1/parent/consumptions", headers=parents[0]).json()
    assert [c["status"] for c in listed["items"]] == ["pending"]
    # The parent's page says why, not that the window is over.
    from fastapi.testclient import TestClient

    from tests.api.told import told

    p = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    r = p.post("/parent/sign-in", data={"enrollment_id": es[0]["id"], "csrf": _pcsrf(p, es[0]),
                                        "access_code": es[0]["access_code"]})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    token = re.search(r'name="csrf" value="([^"]+)"', p.get("/parent?lang=en").text)
    assert token is not None
    r = p.post(f"/parent/lessons/{lessons[0]['id']}/dispute",
               data={"csrf": token.group(1), "reason": "no lesson"})  # fmt: skip
    assert told(p, r) == ("problem", REFUSALS["invalid_state:transferred"])

    # A claim still in the rounds: the lesson reversed after the opening joins it.
    assert dispute(1).status_code == 200
    assert reverse(1).status_code == 200
    kept = claims(w, wd["id"])[es[1]["id"]]
    assert kept["claim"] == "200.00" and kept["outstanding"] == "200.00"
    assert a_round(w, wd["id"]).status_code == 201
    settle_all(w)
    assert claims(w, wd["id"])[es[1]["id"]]["status"] == "paid"
    assert_books(engine, w.inst_id)


def test_a_refused_transfer_cancels_the_successors_enrollment(world: World, engine: Engine) -> None:
    """The bank refuses the transfer: the enrollment made at the successor for it will never
    be paid by it. It is `cancelled` (not left `awaiting_payment` forever): nothing paid,
    nothing to refund, no lesson to report, no deposit matches it (one that comes with its
    reference waits in suspense, as any unmatched one does); no money moves at either school,
    and the claim is the wind-down's again, paid by the next round."""
    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(2)]
    for e in es:
        assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    assert offer(w, wd["id"], good["id"], enrollment_ids=[es[0]["id"]])["offers"] == 1
    parent = w.parent(es[0])
    made = decide(w, parent, "accept").json()["offer"]["successor_enrollment_id"]
    (ins,) = w.pending()
    assert w.result(ins["id"], "rejected", "RXFER2").status_code == 200

    key = bearer(good["api_key"])
    e = w.client.get(f"/api/v1/enrollments/{made}", headers=key).json()
    assert e["status"] == "cancelled", e
    assert e["amount_paid"] == e["balance"] == "0.00"
    lesson = w.client.post(f"/api/v1/enrollments/{made}/consumptions", headers=key,
                           json={"lessons": 1, "occurred_at": w.clock.now.isoformat()})  # fmt: skip
    assert_problem(lesson, 422, "not_funded")
    there = w.client.post("/api/v1/parent/sessions", json={"enrollment_id": made,
                          "access_code": es[0]["access_code"]})  # fmt: skip
    assert there.status_code == 201, there.text
    theirs = bearer(there.json()["token"])
    assert_problem(w.client.post("/api/v1/parent/refunds", json={"reason": "x"}, headers=theirs),
                   422, "nothing_to_refund")  # fmt: skip
    mine = w.client.get("/api/v1/parent/enrollment", headers=theirs).json()
    assert mine["status"] == "cancelled" and mine["refundable_amount"] == "0.00"
    from fastapi.testclient import TestClient

    p = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    r = p.post("/parent/sign-in", data={"enrollment_id": made, "csrf": _pcsrf(p, {"id": made}),
                                        "access_code": es[0]["access_code"]})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    page = p.get("/parent?lang=zh").text
    assert 'data-testid="enrollment-cancelled"' in page and "请不要在此付款" in page
    assert e["payment_reference"] not in page  # no invitation to pay it
    late = w.signed("POST", "/api/v1/bank/deposits", {
        "bank_txn_id": "TLATEXFER1", "account_no": good["escrow_account_no"],
        "payment_reference": e["payment_reference"], "amount": "200.00",
        "paid_at": w.clock.now.isoformat()})  # fmt: skip
    assert late.status_code == 202 and late.json()["status"] == "suspense", late.text
    assert w.client.get(f"/api/v1/enrollments/{made}", headers=key).json()["status"] == "cancelled"
    b = books(engine, good["id"])
    assert b.get("prepaid", D(0)) == D(0) and b["escrow_cash"] == b["suspense"] == D("200.00")
    assert_books(engine, good["id"])

    r = a_round(w, wd["id"])
    assert r.status_code == 201 and r.json()["amount"] == "400.00"
    settle_all(w)
    assert all(c["status"] == "paid" for c in claims(w, wd["id"]).values())
    assert_books(engine, w.inst_id)


def test_a_reversal_judged_before_the_claim_moved_does_not_reach_it(
    world: World, engine: Engine
) -> None:
    """decide() reads the claim's state before it locks anything: a regulator's reversal read
    while the claim was open, then run after the parent's acceptance committed, would add the
    lesson to a transferred claim (the money stranded that the dispute refusal is there to
    prevent). The reversal itself refuses once it holds the claim's lock: the claim, the lesson
    and the books as they were. The race is played in order here (the check already passed, the
    reversal after the transfer), on SQLite and PostgreSQL."""
    from service.flows import consumptions
    from service.flows.models import Consumption

    w = world
    e = w.enroll(lessons=10, amount="200.00")
    assert w.pay(e).status_code == 201
    w.clock.now += timedelta(days=2)
    lesson = w.consume(e["id"], 2).json()
    wd = open_it(w).json()
    parent = w.parent(e)
    r = w.client.post(f"/api/v1/parent/consumptions/{lesson['id']}/dispute",
                      json={"reason": "no lesson that day"}, headers=parent)  # fmt: skip
    assert r.status_code == 200, r.text
    good = successor(w)
    assert offer(w, wd["id"], good["id"], enrollment_ids=[e["id"]])["offers"] == 1
    assert decide(w, parent, "accept").status_code == 200
    settle_all(w)
    before = claims(w, wd["id"])
    assert before[e["id"]]["status"] == "transferred"
    with make_sessionmaker(engine)() as s:
        c = s.get(Consumption, lesson["id"])
        assert c is not None
        with pytest.raises(DomainError) as refused:
            consumptions.reverse(s, c, w.clock.now)
        s.rollback()
    assert refused.value.code == "invalid_state"
    assert refused.value.extra["state"] == "transferred"
    assert claims(w, wd["id"]) == before
    assert_books(engine, w.inst_id)


def test_a_reversal_and_an_acceptance_at_once(world: World, engine: Engine, backend: str) -> None:
    """A regulator reverses a disputed lesson while the parent accepts the successor, on
    PostgreSQL, six times: each pair ends one of the two ways the rules allow (reversed into the
    open claim, then the claim moved with it; or moved, and the reversal refused with 409
    `invalid_state`), never a database error, and the books balance. Both take the claim before
    the enrollment (the reversal took them the other way round)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: no two can interleave")
    from service.flows import consumptions
    from service.flows.consumptions import Decision
    from service.registry.models import Regulator

    w = world
    es = [w.enroll(lessons=10, amount="200.00") for _ in range(6)]
    for e in es:
        assert w.pay(e).status_code == 201
    w.clock.now += timedelta(days=2)
    lessons = [w.consume(e["id"], 2).json() for e in es]
    wd = open_it(w).json()
    for e, lesson in zip(es, lessons, strict=True):
        r = w.client.post(f"/api/v1/parent/consumptions/{lesson['id']}/dispute",
                          json={"reason": "no lesson that day"}, headers=w.parent(e))  # fmt: skip
        assert r.status_code == 200, r.text
    good = successor(w)
    assert offer(w, wd["id"], good["id"], enrollment_ids=[e["id"] for e in es])["offers"] == 6
    sessions = make_sessionmaker(engine)
    with sessions() as s:
        reg_id = s.scalars(select(Regulator.id).where(Regulator.region_code == "220000")).first()
    seen: list[tuple[str, str]] = []
    for e, lesson in zip(es, lessons, strict=True):
        barrier, out = threading.Barrier(2), {}

        def accept(eid: str = e["id"], out: dict[str, str] = out,
                   barrier: threading.Barrier = barrier) -> None:  # fmt: skip
            with sessions.begin() as s:
                barrier.wait()
                out["accept"] = successors.decide(s, enrollment_id=eid, decision="accept",
                                                  now=w.clock.now).status  # fmt: skip

        def reverse(cid: str = lesson["id"], out: dict[str, str] = out,
                    barrier: threading.Barrier = barrier) -> None:  # fmt: skip
            try:
                with sessions.begin() as s:
                    reg = s.get(Regulator, reg_id)
                    assert reg is not None
                    barrier.wait()
                    out["reverse"] = consumptions.decide(
                        s, regulator=reg, consumption_id=cid, decision=Decision.REVERSE,
                        reason="not held", now=w.clock.now).status  # fmt: skip
            except DomainError as exc:
                out["reverse"] = f"{exc.code}:{exc.extra.get('state')}"

        threads = [threading.Thread(target=accept), threading.Thread(target=reverse)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        seen.append((out.get("accept", "error"), out.get("reverse", "error")))
    assert set(seen) <= {("accepted", "reversed"), ("accepted", "invalid_state:transferred")}, seen
    settle_all(w)
    assert_books(engine, w.inst_id)
    assert_books(engine, good["id"])


def test_a_transfer_is_not_refused_by_the_consumer_cap_but_counts_in_it(
    world: World, engine: Engine
) -> None:
    """A consumer moved to a successor whose pack caps what one consumer holds (here 300 yuan,
    a version of the pack of the successor's district, 双阳区, which no other test uses) is moved even where the transfer takes them
    over it: the regulator moved them, and refusing would leave them a refund claim only. The
    transferred enrollment is theirs at the successor: it counts in what they hold there, so
    their next order is refused, and the acceptance's audit says by how much they are over."""
    from service.policy import packs
    from service.policy.rules import Entry, Source
    from service.registry.models import AuditEvent

    w = world
    (e,) = [w.enroll(lessons=10, amount="200.00")]
    assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    body = factories.institution_body(w.bank.id, region="220112")
    good = w.client.post("/api/v1/institutions", json=body, headers=bearer(w.reg)).json()
    key = bearer(good["api_key"])
    course = w.client.post("/api/v1/courses", json=factories.course_body("2026-11-30", n=40),
                           headers=key).json()  # fmt: skip
    assert course["status"] == "approved", course

    def cap(s: Any) -> None:
        packs.define(s, region_code="220112", sector="education_subject",
                     effective_from=w.clock.now.date(), reason="test", actor="test",
                     now=w.clock.now, rules={"prepay_caps": Entry(
                         value={"lessons": 60, "months": 3, "per_consumer": "300"},
                         source=Source(title="a test's cap", issuer="test"))})  # fmt: skip

    from service.kit.db import run_in_transaction

    run_in_transaction(make_sessionmaker(engine), cap)
    order = {"course_id": course["id"], "student_ref": "stu-1", "lessons": 10, "amount": "200.00"}
    assert w.client.post("/api/v1/enrollments", json=order, headers=key).status_code == 201

    assert offer(w, wd["id"], good["id"], enrollment_ids=[e["id"]])["offers"] == 1
    r = decide(w, w.parent(e), "accept")
    assert r.status_code == 200, r.text  # 200 + 200 held at the successor: over 300, moved
    with make_sessionmaker(engine)() as s:
        accepted = [d for d in s.scalars(select(AuditEvent.detail).where(
            AuditEvent.action == "wind_down:offer_accept")).all()
            if d["successor_institution_id"] == good["id"]]  # fmt: skip
    assert [a.get("consumer_cap") for a in accepted] == [
        {"limit": "300.00", "held": "400.00", "transferred": "200.00"}
    ]
    more = w.client.post("/api/v1/enrollments", json=order | {"lessons": 1, "amount": "20.00"},
                         headers=key)  # fmt: skip
    assert_problem(more, 409, "prepay_over_consumer_cap")
    assert more.json()["held"] == "400.00"


def test_a_member_the_successor_knew_is_counted_once_it_names_them(
    world: World, engine: Engine
) -> None:
    """The successor (in 九台区 220113, under a pack capping what one consumer holds at 500
    yuan, a version no other test uses) already knows the member as `gym-7`, who holds 300
    there. The transfer brings 200 under the failed school's reference, `stu-1`: counted
    apart, `gym-7` could buy 200 more and the member hold 700, the cap split. So the
    transferred enrollment takes no lesson report until the successor names the member it is;
    named `gym-7`, the member holds 500 and the next order is refused."""
    from service.registry.models import AuditEvent

    w = world
    e = w.enroll(lessons=10, amount="200.00")
    assert w.pay(e).status_code == 201
    wd = open_it(w).json()
    body = factories.institution_body(w.bank.id, region="220113")
    good = w.client.post("/api/v1/institutions", json=body, headers=bearer(w.reg)).json()
    key = bearer(good["api_key"])
    course = w.client.post("/api/v1/courses", json=factories.course_body("2026-11-30", n=40),
                           headers=key).json()  # fmt: skip
    factories.pack_override(
        engine, "220113", {"prepay_caps": {"lessons": 60, "months": 3, "per_consumer": "500"}},
        sector="education_subject",
    )  # fmt: skip
    try:
        order = {"course_id": course["id"], "student_ref": "gym-7", "lessons": 15,
                 "amount": "300.00"}  # fmt: skip
        assert w.client.post("/api/v1/enrollments", json=order, headers=key).status_code == 201
        assert offer(w, wd["id"], good["id"], enrollment_ids=[e["id"]])["offers"] == 1
        parent = w.parent(e)
        assert decide(w, parent, "accept").status_code == 200
        settle_all(w)  # the bank moves the money: the successor's enrollment is paid
        moved = w.client.get("/api/v1/parent/wind-down", headers=parent).json()
        new = moved["offer"]["successor_enrollment_id"]
        got = w.client.get(f"/api/v1/enrollments/{new}", headers=key).json()
        assert (got["student_ref"], got["member_to_name"], got["status"]) == (
            "stu-1", True, "active")  # fmt: skip
        lesson = {"lessons": 1, "occurred_at": w.clock.now.isoformat()}
        r = w.client.post(f"/api/v1/enrollments/{new}/consumptions", json=lesson, headers=key)
        assert_problem(r, 409, "member_not_named")

        named = w.client.post(f"/api/v1/enrollments/{new}/member", headers=key,
                              json={"student_ref": "gym-7"})  # fmt: skip
        assert named.status_code == 200, named.text
        assert (named.json()["student_ref"], named.json()["member_to_name"]) == ("gym-7", False)
        again = w.client.post(f"/api/v1/enrollments/{new}/member", headers=key,
                              json={"student_ref": "gym-7"})  # fmt: skip
        assert again.status_code == 200 and again.json() == named.json()
        other = w.client.post(f"/api/v1/enrollments/{new}/member", headers=key,
                              json={"student_ref": "gym-8"})  # fmt: skip
        assert_problem(other, 409, "invalid_state")
        not_moved = w.client.post(f"/api/v1/enrollments/{e['id']}/member", headers=key,
                                  json={"student_ref": "gym-7"})  # fmt: skip
        assert_problem(not_moved, 404, "not_found")  # another institution's enrollment

        more = w.client.post("/api/v1/enrollments", headers=key,
                             json=order | {"lessons": 1, "amount": "20.00"})  # fmt: skip
        assert_problem(more, 409, "prepay_over_consumer_cap")
        assert more.json()["held"] == "500.00"
        r = w.client.post(f"/api/v1/enrollments/{new}/consumptions", json=lesson, headers=key)
        assert r.status_code == 201, r.text
        with make_sessionmaker(engine)() as s:
            (detail,) = s.scalars(select(AuditEvent.detail).where(
                AuditEvent.action == "enrollment:member_named", AuditEvent.subject == new)).all()  # fmt: skip
        assert detail == {"carried": "stu-1", "student_ref": "gym-7"}
    finally:
        factories.drop_pack_overrides(engine, "220113")
