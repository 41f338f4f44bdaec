"""A wind-down end to end against the bank simulator (tools/banksim.py), in process, on SQLite
and PostgreSQL (issue 34's test): a school of 200 parents whose owner took money out of escrow
with no instruction, so the escrow covers 63% of the claims; the statement's break reviewed;
the wind-down opened; a first round paid by the bank, one payment rejected (the parent's card
is closed); a recovery paid in with the wind-down's reference; a second round; the parent
names an account and is paid there in the third; between the recovery and the second round
a successor school is offered, accepted by a fifth of the parents (their claims' shares move
to its escrow by one transfer each, which the bank executes), declined by a fifth. Every claim right to the fen, the bank's
books equal to the ledger's, the ledger verified."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.app import create_app
from service.config import Settings
from service.flows import statements
from service.flows.models import Statement
from service.kit.clock import SHANGHAI
from service.kit.db import make_sessionmaker
from service.registry.models import Regulator
from tests import factories
from tests.api.approving import at_once, through
from tests.api.conftest import bearer
from tests.api.test_winddown import assert_books, books, round_made
from tools.banksim import Bank

D = Decimal
PARENTS = 200


class InProcessBank(Bank):
    """The simulator, talking to the app in process: it fetches its instructions (as its
    `pull` does after a missed push) and executes each at once; `closed` names the payers'
    original transactions whose cards are closed (a payment back to them is rejected)."""

    client: TestClient
    closed: set[str]

    def _signed_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        import json

        raw = json.dumps(body, separators=(",", ":")).encode()
        cred = factories.BankCred(self.bank_id, self.secret)
        return self.client.post(path, content=raw,
                                headers={**cred.headers("POST", path, raw),
                                         "content-type": "application/json"})  # fmt: skip

    def _signed_get(self, path: str) -> httpx.Response:
        cred = factories.BankCred(self.bank_id, self.secret)
        return self.client.get(path, headers=cred.headers("GET", path, b""))

    def receive(self, instruction: dict[str, Any]) -> None:
        with self.lock:
            if instruction["id"] in self.instructions:
                return
            self.instructions[instruction["id"]] = {**instruction, "result": None}
        route = set(instruction["payee"].get("original_bank_txn_ids", []))
        if route & self.closed:
            self.behaviour.reject_next = 1
        self._execute(instruction["id"])


@pytest.fixture
def stack(engine: Engine, settings: Settings) -> Iterator[tuple[TestClient, InProcessBank, str]]:
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        cred = factories.bank(engine)
        _, reg = factories.regulator(engine, "220000")
        bank = InProcessBank(bank_id=cred.id, secret=cred.secret, service_url="")
        bank.client, bank.closed = c, set()
        yield c, bank, reg


def test_two_hundred_parents_63_percent_a_recovery_and_a_closed_card(
    stack: tuple[TestClient, InProcessBank, str], engine: Engine
) -> None:
    c, bank, reg = stack
    body = factories.institution_body(bank.bank_id)
    inst = c.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
    key, escrow = inst["api_key"], body["escrow_account_no"]
    course = c.post("/api/v1/courses", json=factories.course_body(n=40), headers=bearer(key))
    es, txn = [], {}
    for i in range(PARENTS):
        amount = f"{150 + i % 50}.{(i * 37) % 100:02d}"
        e = c.post("/api/v1/enrollments", headers=bearer(key), json={
            "course_id": course.json()["id"], "student_ref": f"s{i}", "lessons": 10,
            "amount": amount}).json()  # fmt: skip
        paid = bank.pay(escrow, e["payment_reference"], D(amount))
        assert paid["status_code"] == 201, paid
        es.append(e)
        txn[e["id"]] = paid["bank_txn_id"]
    for e in es[::3]:  # a third of the parents had lessons
        r = c.post(f"/api/v1/enrollments/{e['id']}/consumptions", headers=bearer(key),
                   json={"lessons": 3, "occurred_at": datetime.now(UTC).isoformat()})  # fmt: skip
        assert r.status_code == 201, r.text
    owed = {e["id"]: D(c.get(f"/api/v1/enrollments/{e['id']}", headers=bearer(key)).json()["balance"])
            for e in es}  # fmt: skip
    claims_total = sum(owed.values(), D(0))
    held = D(c.get("/api/v1/balances", headers=bearer(key)).json()["escrow"])
    # The owner takes what leaves 63% of the claims in the account.
    target = (claims_total * D("0.63")).quantize(D("0.01"), ROUND_HALF_UP)
    bank.debit_without_instruction(escrow, held - target)
    answer = bank.statement(escrow, datetime.now(SHANGHAI).date())
    assert answer["status"] == "breaks"
    _review(engine, reg, escrow)

    asked = c.post(f"/api/v1/institutions/{inst['id']}/wind-down", headers=bearer(reg),
                   json={"reason": "absconded", "effective_at": datetime.now(UTC).isoformat(),
                         "note": "the owner is gone"})  # fmt: skip
    # Four eyes (wind_down_open, wind_down_round): a second supervisor approves each.
    opened = at_once(c, engine, asked, 201, lambda a: c.get(
        f"/api/v1/wind-downs/{a['wind_down_id']}", headers=bearer(reg)).json())  # fmt: skip
    assert opened.status_code == 201, opened.text
    wd = opened.json()
    assert D(wd["money"]["escrow"]) == bank.balances[escrow] == target
    assert D(wd["claims"]["total"]) == claims_total
    claims = _claims(c, reg, wd["id"])
    assert {k: D(v["claim"]) for k, v in claims.items()} == owed  # every claim to the fen
    assert_books(engine, inst["id"])

    closed_card = es[7]["id"]
    bank.closed.add(txn[closed_card])
    r1 = at_once(c, engine, c.post(f"/api/v1/wind-downs/{wd['id']}/rounds", json={},
                                   headers=bearer(reg)), 201, round_made)  # fmt: skip
    assert r1.status_code == 201, r1.text
    assert D(r1.json()["amount"]) == target and r1.json()["claims_paid"] == PARENTS
    assert bank.pull() == PARENTS
    claims = _claims(c, reg, wd["id"])
    for e_id, claim in claims.items():
        exact = target * owed[e_id] / claims_total
        given = D(claim["paid"]) + D(claim["held"])
        assert abs(given - exact) <= D("0.01"), (e_id, given, exact)
    assert claims[closed_card]["status"] == "unreachable"
    assert sum(D(x["paid"]) for x in claims.values()) == target - D(claims[closed_card]["held"])
    assert bank.balances[escrow] == D(claims[closed_card]["held"])  # the bank kept only that
    assert_books(engine, inst["id"])

    recovered = (claims_total * D("0.25")).quantize(D("0.01"))
    paid = bank.pay(escrow, wd["payment_reference"], recovered)
    assert paid["status_code"] == 201, paid
    # A successor school takes a fifth of the parents (they accept), a fifth decline, the
    # rest say nothing: each accepted claim's share of the recovery moves to its escrow.
    moved, succ_escrow, succ_id = _successor(c, engine, bank, reg, wd["id"], es)
    assert bank.balances[succ_escrow] == moved > 0
    r2 = at_once(c, engine, c.post(f"/api/v1/wind-downs/{wd['id']}/rounds", json={},
                                   headers=bearer(reg)), 201, round_made)  # fmt: skip
    assert r2.status_code == 201, r2.text
    assert D(r2.json()["amount"]) == recovered - moved  # the kept claims share the rest
    # Not the transferred ones, nor the closed card's (its share is held for an account).
    assert r2.json()["claims_paid"] == PARENTS - len(es[::5]) - 1
    bank.pull()
    claims = _claims(c, reg, wd["id"])
    for e_id, claim in claims.items():
        exact = (target + recovered) * owed[e_id] / claims_total
        given = D(claim["paid"]) + D(claim["held"]) + D(claim["transferred"])
        assert abs(given - exact) <= D("0.02"), (e_id, given, exact)
        assert given <= owed[e_id]
    assert claims[closed_card]["status"] == "unreachable"
    taken = {e["id"] for e in es[::5]}
    assert {k for k, x in claims.items() if x["status"] == "transferred"} == taken
    assert all(claims[k]["successor_institution_id"] == succ_id for k in taken)

    login = {"enrollment_id": closed_card, "access_code": es[7]["access_code"]}
    parent = bearer(c.post("/api/v1/parent/sessions", json=login).json()["token"])
    named = c.post("/api/v1/parent/wind-down/payee", json={"account_no": "6217000000000007"},
                   headers=parent)  # fmt: skip
    assert named.status_code == 200, named.text
    r3 = at_once(c, engine, c.post(f"/api/v1/wind-downs/{wd['id']}/rounds", json={},
                                   headers=bearer(reg)), 201, round_made)  # fmt: skip
    assert r3.status_code == 201, r3.text
    assert r3.json()["claims_paid"] == 1 and D(r3.json()["amount"]) == 0
    assert bank.pull() == 1
    claims = _claims(c, reg, wd["id"])
    mine = claims[closed_card]
    assert mine["status"] == "open" and mine["held"] == "0.00"
    exact = (target + recovered) * owed[closed_card] / claims_total
    assert abs(D(mine["paid"]) - exact) <= D("0.02")
    page = c.get("/api/v1/parent/wind-down", headers=parent).json()
    assert [p["status"] for p in page["rounds"]] == ["rejected", "held", "paid"]
    paid_total = sum(D(x["paid"]) for x in claims.values())
    assert paid_total + moved == target + recovered
    kept = {k: x for k, x in claims.items() if k not in taken}
    assert all(D(x["paid"]) + D(x["outstanding"]) == owed[k] for k, x in kept.items())
    assert all(claims[k]["outstanding"] == "0.00" for k in taken)  # the successor teaches
    view = c.get(f"/api/v1/wind-downs/{wd['id']}", headers=bearer(reg)).json()
    assert D(view["claims"]["outstanding"]) == sum(owed[k] - D(x["paid"]) for k, x in kept.items())
    assert D(view["money"]["escrow"]) == bank.balances[escrow] == D(0)
    # What the owner still owes: what was taken, less what was recovered.
    assert D(view["shortfall"]) == held - target
    assert books(engine, inst["id"])["receivable"] == held - target - recovered
    assert_books(engine, inst["id"])
    succ_books = books(engine, succ_id)  # the successor's: what moved, owed to its pupils
    assert succ_books["escrow_cash"] == succ_books["prepaid"] == moved == bank.balances[succ_escrow]
    assert_books(engine, succ_id)


def _successor(
    c: TestClient, engine: Engine, bank: InProcessBank, reg: str, wd_id: str,
    es: list[dict[str, Any]],
) -> tuple[Decimal, str, str]:  # fmt: skip
    """A willing school of the region at the same bank, offered to every parent (four eyes);
    every fifth accepts, the next declines, the rest are silent; the bank executes the
    transfers. Returns the money moved, the successor's escrow account and its id."""
    body = factories.institution_body(bank.bank_id)
    succ = c.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
    course = c.post("/api/v1/courses", json=factories.course_body(n=40),
                    headers=bearer(succ["api_key"]))  # fmt: skip
    assert course.status_code == 201, course.text
    asked = c.post(f"/api/v1/wind-downs/{wd_id}/successor-offers", headers=bearer(reg),
                   json={"successor_institution_id": succ["id"]})  # fmt: skip
    assert through(c, engine, asked)["offers"] == PARENTS
    for n, e in enumerate(es):
        if n % 5 > 1:
            continue  # silent
        login = {"enrollment_id": e["id"], "access_code": e["access_code"]}
        parent = bearer(c.post("/api/v1/parent/sessions", json=login).json()["token"])
        decision = "accept" if n % 5 == 0 else "decline"
        r = c.post("/api/v1/parent/wind-down/offer", json={"decision": decision}, headers=parent)
        assert r.status_code == 200, r.text
        assert r.json()["offer"]["status"] == ("accepted" if n % 5 == 0 else "declined")
    assert bank.pull() == len(es[::5])  # one transfer each
    moved = sum((D(i["amount"]) for i in bank.instructions.values() if i["kind"] == "transfer"),
                D(0))  # fmt: skip
    assert all(i["result"]["status"] == "executed" for i in bank.instructions.values()
               if i["kind"] == "transfer")  # fmt: skip
    return moved, body["escrow_account_no"], succ["id"]


def _review(engine: Engine, token: str, account_no: str) -> None:
    from service.kit.ids import token_hash

    with make_sessionmaker(engine).begin() as s:
        reg = s.scalars(select(Regulator).where(Regulator.token_hash == token_hash(token))).one()
        for sid in s.scalars(select(Statement.id).where(Statement.account_no == account_no)):
            statements.review(s, regulator=reg, statement_id=sid, now=datetime.now(UTC))


def _claims(c: TestClient, reg: str, wd_id: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        q = f"/api/v1/wind-downs/{wd_id}/claims?limit=500" + (f"&cursor={cursor}" if cursor else "")
        page = c.get(q, headers=bearer(reg)).json()
        out |= {x["enrollment_id"]: x for x in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return out
