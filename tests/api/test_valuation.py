"""One valuation of an institution (service.flows.positions): the API, the institution's file,
the institution list, the overview and the risk facts give the same figures for the same
institution, on SQLite and PostgreSQL; and coverage has one definition, the bank's word over
the ledger's escrow of the institutions whose bank has reported, those not reported counted
apart (the overview used to count them as holding ¥0 while the list showed "—")."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.flows.positions import valuations
from service.kit.db import make_sessionmaker
from service.policy.knobs import RiskConfig
from service.risk.facts import Needs, gather
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import START, Clock, World, reserve_world
from tests.api.test_workbench_pages import sign_in


@pytest.fixture
def world(fresh_engine: Engine, settings: Settings) -> Iterator[World]:
    """test_flows' world on a database of its own: the overview sums the whole region."""
    clock = Clock()
    app = create_app(settings, engine=fresh_engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(fresh_engine)
        _, reg = factories.regulator(fresh_engine, "220000")
        body = factories.institution_body(bank.id)
        inst = client.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
        course = client.post(
            "/api/v1/courses",
            json=factories.course_body("2026-11-23", n=40),
            headers=bearer(inst["api_key"]),
        ).json()
        yield World(
            client, clock, bank, reg, inst["id"], inst["api_key"], body["escrow_account_no"], course
        )


def yuan(shown: str) -> Decimal:
    """¥12,345.67 as the pages show it."""
    return Decimal(html.unescape(shown).strip().replace("¥", "").replace(",", ""))


def busy_reserve_school(world: World) -> World:
    """A reserve-mode school with money in every place: lessons given (earned), a payment no
    enrollment claims (suspense), a refund accepted and not yet paid by the bank (in flight),
    a risk reserve, and a bank statement ¥150.00 short of the ledger."""
    w, reserve_no = reserve_world(world)
    e1, e2 = w.enroll(lessons=10, amount="200.00"), w.enroll(lessons=4, amount="80.00")
    assert w.pay(e1).status_code == 201 and w.pay(e2).status_code == 201
    stray = {**e1, "payment_reference": "NO-SUCH-REFERENCE"}
    assert w.pay(stray, amount="35.00").status_code == 202  # accepted into suspense
    w.clock.now = START + timedelta(days=3)
    assert w.consume(e1["id"], 3).status_code == 201
    parent = w.parent(e2)
    rid = w.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "搬家"}).json()
    answer = w.client.post(
        f"/api/v1/refunds/{rid['id']}/respond",
        headers=bearer(w.key),
        json={"decision": "accept", "reason": "同意"},
    )
    assert answer.status_code == 200, answer.text
    assert w.pending(), "the refund is in flight"
    paid_in = w.signed(
        "POST",
        "/api/v1/bank/deposits",
        {"bank_txn_id": f"RSV-{w.inst_id[-8:]}", "account_no": reserve_no,
         "payment_reference": "reserve", "amount": "50.00", "paid_at": w.clock.now.isoformat()},
    )  # fmt: skip
    assert paid_in.status_code == 201, paid_in.text
    escrow = Decimal(w.balances()["escrow"])
    closing = f"{escrow - Decimal('150.00'):.2f}"
    stmt = w.signed(
        "POST",
        "/api/v1/bank/statements",
        {"account_no": w.escrow, "statement_date": w.clock.now.date().isoformat(),
         "opening_balance": closing, "closing_balance": closing, "transactions": []},
    )  # fmt: skip
    assert stmt.status_code == 200, stmt.text
    return w


def list_row(page: str, inst_id: str) -> tuple[Decimal, Decimal, str]:
    """Escrow, owed and coverage of an institution's row in the list."""
    row = page.split(f'href="/workbench/institutions/{inst_id}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(.*?)</td>", row)
    return yuan(cells[2]), yuan(cells[3]), cells[4]


def shown(page: str, testid: str) -> str:
    """The text of a figure (`<div data-testid=…><dt>…</dt><dd>…</dd>`) of a page."""
    found = re.search(rf'<div data-testid="{testid}"><dt>.*?</dt><dd>(.*?)</dd>', page, re.S)
    assert found, testid
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_api_file_list_overview_and_risk_facts_value_an_institution_alike(
    world: World, fresh_engine: Engine
) -> None:
    w = busy_reserve_school(world)
    api = w.client.get(f"/api/v1/institutions/{w.inst_id}", headers=bearer(w.reg)).json()
    b = {k: Decimal(v) for k, v in api["balances"].items()}
    assert b["suspense"] == Decimal("35.00") and b["earned_unreleased"] == Decimal("60.00")
    assert b["escrow"] == b["prepaid_outstanding"] + b["earned_unreleased"] + b["suspense"]
    assert b["reserve"] == Decimal("50.00")

    c = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    sign_in(c, w.reg)
    file = c.get(f"/workbench/institutions/{w.inst_id}").text
    assert yuan(shown(file, "escrow")) == b["escrow"]
    assert yuan(shown(file, "owed")) == b["prepaid_outstanding"]
    assert yuan(shown(file, "earned")) == b["earned_unreleased"]
    assert yuan(shown(file, "suspense")) == b["suspense"]
    bank = b["escrow"] - Decimal("150.00")
    assert yuan(shown(file, "bank").split("·")[0]) == bank
    coverage = f"{(bank / b['escrow']).quantize(Decimal('0.0001')) * 100:.1f}%"
    assert shown(file, "coverage") == coverage

    listed = c.get("/workbench/institutions", params={"sort": "name"}).text
    assert list_row(listed, w.inst_id) == (b["escrow"], b["prepaid_outstanding"], coverage)

    with make_sessionmaker(fresh_engine)() as s:
        facts = gather(s, as_of=w.clock.now, needs=Needs.of([RiskConfig()]),
                       institution_ids=[w.inst_id])[w.inst_id]  # fmt: skip
        v = valuations(s.connection(), [w.inst_id])[w.inst_id]
    assert (facts.prepaid_outstanding, facts.reserve) == (b["prepaid_outstanding"], b["reserve"])
    assert (v.escrow, v.owed, v.earned, v.suspense, v.bank_balance) == (
        b["escrow"], b["prepaid_outstanding"], b["earned_unreleased"], b["suspense"], bank,
    )  # fmt: skip


def test_the_overview_coverage_is_the_lists_of_the_institutions_whose_bank_reported(
    world: World,
) -> None:
    """The world's own school is paid into and its bank has sent nothing: the list shows its
    coverage as "—"; the overview's coverage is the reporting school's alone (it was the
    banks' balances over the escrow of both, as if the silent bank held ¥0), and says one
    bank has not reported."""
    silent = world.enroll(lessons=10, amount="200.00")
    assert world.pay(silent).status_code == 201
    w = busy_reserve_school(replace(world))
    c = TestClient(w.client.app, raise_server_exceptions=False, follow_redirects=False)
    sign_in(c, w.reg)
    listed = c.get("/workbench/institutions", params={"sort": "name"}).text
    assert list_row(listed, world.inst_id)[2] == "—"
    reported = list_row(listed, w.inst_id)[2]
    overview = c.get("/workbench").text
    assert shown(overview, "coverage").split()[0] == reported
    note = re.search(r'data-testid="unreported">(.*?)</span>', overview)
    assert note and note.group(1) == "银行尚未报送：1 家"
