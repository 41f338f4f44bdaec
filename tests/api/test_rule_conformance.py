"""Conformance: the same course, enrollment, lesson and refund run under two packs give the two
outcomes the texts require. Jinan (370102) holds the national defaults (a 7-day confirmation
window, 5 days to answer a refund); Zhejiang (330106) counts 7 working days on the State
Council's arrangement, across National Day 2026 (1 to 7 October off; 20 September and 10
October worked)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.kit.clock import SHANGHAI
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import Clock

REPORTED = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # the day before National Day


@dataclass
class School:
    key: str
    escrow: str
    course_id: str
    id: str


@dataclass
class Town:
    client: TestClient
    clock: Clock
    bank: factories.BankCred
    schools: dict[str, School]

    def funded(self, where: str, course_id: str | None = None) -> dict[str, Any]:
        school = self.schools[where]
        r = self.client.post(
            "/api/v1/enrollments",
            headers=bearer(school.key),
            json={"course_id": course_id or school.course_id, "student_ref": "stu-1",
                  "lessons": 10, "amount": "1000.00"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        e = r.json()
        body = {
            "bank_txn_id": f"T{e['id'][-10:]}",
            "account_no": school.escrow,
            "payment_reference": e["payment_reference"],
            "amount": e["amount_due"],
            "paid_at": self.clock.now.isoformat(),
        }
        raw = factories.dumps(body)
        headers = {**self.bank.headers("POST", "/api/v1/bank/deposits", raw),
                   "content-type": "application/json"}  # fmt: skip
        paid = self.client.post("/api/v1/bank/deposits", content=raw, headers=headers)
        assert paid.status_code == 201, paid.text
        return e


@pytest.fixture
def town(engine: Engine, settings: Settings) -> Iterator[Town]:
    clock = Clock(now=datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI))
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(engine)
        schools = {}
        for where, province in (("370102", "370000"), ("330106", "330000")):
            _, reg = factories.regulator(engine, province)
            body = factories.institution_body(bank.id, where, category="non_subject")
            r = client.post("/api/v1/institutions", json=body, headers=bearer(reg))
            assert r.status_code == 201, r.text
            inst = r.json()
            course = client.post(
                "/api/v1/courses",
                json=factories.course_body("2026-10-12", n=20, category="non_subject",
                                           subject="basketball", price_per_lesson="100.00"),
                headers=bearer(inst["api_key"]),
            ).json()  # fmt: skip
            assert course["status"] == "approved", course
            schools[where] = School(
                inst["api_key"], body["escrow_account_no"], course["id"], inst["id"]
            )
        yield Town(client, clock, bank, schools)


def _parent(town: Town, e: dict[str, Any]) -> str:
    """The enrollment's parent signed in with its access code: their bearer token."""
    r = town.client.post(
        "/api/v1/parent/sessions",
        json={"enrollment_id": e["id"], "access_code": e["access_code"]},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


@pytest.mark.parametrize(
    ("where", "confirm_until"),
    [
        ("370102", datetime(2026, 10, 7, 10, 0, tzinfo=SHANGHAI)),  # 7 calendar days
        ("330106", datetime(2026, 10, 15, 10, 0, tzinfo=SHANGHAI)),  # 7 working days
    ],
)
def test_a_lesson_is_released_after_the_packs_window(
    town: Town, where: str, confirm_until: datetime
) -> None:
    e = town.funded(where)
    town.clock.now = REPORTED
    r = town.client.post(
        f"/api/v1/enrollments/{e['id']}/consumptions",
        headers=bearer(town.schools[where].key),
        json={"lessons": 1, "occurred_at": REPORTED.isoformat()},
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["confirm_until"]) == confirm_until


@pytest.mark.parametrize(
    ("where", "respond_by"),
    [
        ("370102", datetime(2026, 10, 5, 10, 0, tzinfo=SHANGHAI)),  # 5 calendar days
        ("330106", datetime(2026, 10, 13, 10, 0, tzinfo=SHANGHAI)),  # a Zhejiang override
    ],
)
def test_a_refund_is_answered_within_the_packs_deadline(
    town: Town, engine: Engine, where: str, respond_by: datetime
) -> None:
    if where == "330106":  # the city's own rule: 5 working days (an override for this test)
        factories.pack_override(engine, "330106", {"refund_answer_deadline": {"working_days": 5}})
    try:
        e = town.funded(where)
        town.clock.now = REPORTED
        parent = _parent(town, e)
        r = town.client.post(
            "/api/v1/parent/refunds", headers=bearer(parent), json={"reason": "moving"}
        )
        assert r.status_code == 201, r.text
        assert datetime.fromisoformat(r.json()["respond_by"]) == respond_by
    finally:
        factories.drop_pack_overrides(engine, "330106")


def test_an_entry_gate_closes_the_first_months_to_prepaid_sales(town: Town, engine: Engine) -> None:
    """Siping's 2025 draft: no prepaid sales in the first 6 months after the licence (the
    registration stands for it). Jinan has no gate."""
    factories.pack_override(engine, "330106", {"entry_gate": {"months_after_licence": 6}})
    try:
        assert town.funded("370102")["status"] == "awaiting_payment"
        school = town.schools["330106"]
        r = town.client.post(
            "/api/v1/enrollments",
            headers=bearer(school.key),
            json={"course_id": school.course_id, "student_ref": "stu-2", "lessons": 10,
                  "amount": "1000.00"},
        )  # fmt: skip
        assert r.status_code == 409 and r.json()["code"] == "entry_gate_closed", r.text
        assert r.json()["opens_on"] == "2027-03-28"
    finally:
        factories.drop_pack_overrides(engine, "330106")


def test_a_sectors_amount_cap_comes_from_its_pack(town: Town, engine: Engine) -> None:
    """Non-subject training: 5,000 yuan a collection nationally; a locality may say less."""
    factories.pack_override(
        engine, "330106", {"prepay_caps": {"lessons": 60, "months": 3, "amount": "800"}},
        sector="education_non_subject",
    )  # fmt: skip
    try:
        for where, status in (("370102", 201), ("330106", 422)):
            school = town.schools[where]
            r = town.client.post(
                "/api/v1/enrollments",
                headers=bearer(school.key),
                json={"course_id": school.course_id, "student_ref": "stu-3", "lessons": 10,
                      "amount": "1000.00"},
            )  # fmt: skip
            assert r.status_code == status, (where, r.text)
        assert r.json()["code"] == "prepay_over_cap" and r.json()["limit"] == "800.00"
    finally:
        factories.drop_pack_overrides(engine, "330106")


def test_a_lesson_report_reads_no_pack_once_the_days_pack_is_resolved(
    town: Town, engine: Engine
) -> None:
    """The hot path gains no read per event: the pack is resolved once per region, sector and
    day and kept (service.policy.packs), so the second report of the day reads no version."""
    import sqlalchemy as sa

    e = town.funded("330106")
    town.clock.now = REPORTED
    school = town.schools["330106"]

    def report() -> None:
        r = town.client.post(
            f"/api/v1/enrollments/{e['id']}/consumptions",
            headers=bearer(school.key),
            json={"lessons": 1, "occurred_at": REPORTED.isoformat()},
        )
        assert r.status_code == 201, r.text  # fmt: skip

    report()
    seen: list[str] = []

    def statement(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", statement)
    try:
        report()
    finally:
        sa.event.remove(engine, "before_cursor_execute", statement)
    assert seen, "the report ran statements"
    assert not [q for q in seen if "rule_packs" in q], seen


@pytest.mark.parametrize(
    ("where", "confirm_until", "provisional"),
    [
        ("370102", datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI), False),  # calendar days
        # 7 working days reach 2027, whose arrangement is not published: counted on the
        # statutory holidays (New Year's Day off) and said to be provisional.
        ("330106", datetime(2027, 1, 7, 10, 0, tzinfo=SHANGHAI), True),
    ],
)
def test_a_window_reaching_an_unpublished_year_is_provisional(
    town: Town, where: str, confirm_until: datetime, provisional: bool
) -> None:
    e = town.funded(where)
    town.clock.now = datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI)
    r = town.client.post(
        f"/api/v1/enrollments/{e['id']}/consumptions",
        headers=bearer(town.schools[where].key),
        json={"lessons": 1, "occurred_at": town.clock.now.isoformat()},
    )
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["confirm_until"]) == confirm_until
    assert r.json()["confirm_until_provisional"] is provisional
    parent = _parent(town, e)
    lessons = town.client.get("/api/v1/parent/consumptions", headers=bearer(parent))
    assert lessons.status_code == 200, lessons.text
    assert [c["confirm_until_provisional"] for c in lessons.json()["items"]] == [provisional]
    # The parent's page says so too, in Chinese and in English.
    _pages_agree(_parent_pages(town, e), provisional)


def _refund_accepted(town: Town, where: str) -> dict[str, Any]:
    """A parent asks for the rest back on 30 September; the school accepts at once (the
    enrollment under `enrollment`)."""
    e = town.funded(where)
    town.clock.now = REPORTED
    parent = _parent(town, e)
    asked = town.client.post(
        "/api/v1/parent/refunds", headers=bearer(parent), json={"reason": "moving"}
    )
    assert asked.status_code == 201, asked.text
    r = town.client.post(
        f"/api/v1/refunds/{asked.json()['id']}/respond",
        headers=bearer(town.schools[where].key),
        json={"decision": "accept", "reason": "agreed"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "instructed", r.json()
    return {**r.json(), "enrollment": e}


@pytest.mark.parametrize(
    ("where", "pay_by", "overdue_on_9_october"),
    [
        # The national default: 5 working days (8, 9, 10 (worked), 12, 13 October).
        ("370102", datetime(2026, 10, 13, 10, 0, tzinfo=SHANGHAI), False),
        # A pack of 2 working days: 8 and 9 October; overdue after.
        ("330106", datetime(2026, 10, 9, 10, 0, tzinfo=SHANGHAI), True),
    ],
)
def test_a_consented_refund_is_paid_within_the_packs_deadline(
    town: Town, engine: Engine, where: str, pay_by: datetime, overdue_on_9_october: bool
) -> None:
    """`refund_payment_deadline`: a refund consented to is to be paid by the bank within N
    working days; unpaid after that it is overdue, on the API and as risk evidence."""
    from service.kit.db import make_sessionmaker
    from service.policy import knobs
    from service.risk import facts

    factories.pack_override(engine, "330106", {"refund_payment_deadline": {"working_days": 2}})
    try:
        refund = _refund_accepted(town, where)
        assert datetime.fromisoformat(refund["pay_by"]) == pay_by
        assert refund["pay_by_provisional"] is False and refund["payment_overdue"] is False
        town.clock.now = datetime(2026, 10, 9, 12, 0, tzinfo=SHANGHAI)
        listed = town.client.get("/api/v1/refunds", headers=bearer(town.schools[where].key)).json()[
            "items"
        ]
        assert [r["payment_overdue"] for r in listed] == [overdue_on_9_october]
        with make_sessionmaker(engine)() as s:
            found = facts.gather(
                s, as_of=town.clock.now, needs=facts.Needs.of([knobs.RiskConfig()]),
                institution_ids=[refund["institution_id"]],
            )[refund["institution_id"]]  # fmt: skip
        assert (refund["id"] in [i for i, _ in found.overdue_refunds]) is overdue_on_9_october
        page = _parent_page(town, refund["enrollment"])
        assert "银行应于" in page and ("逾期未付" in page) is overdue_on_9_october
    finally:
        factories.drop_pack_overrides(engine, "330106")


@pytest.mark.parametrize(("where", "warned"), [("370102", False), ("330106", True)])
def test_the_bank_warns_on_withdrawals_over_the_packs_amount(
    town: Town, engine: Engine, where: str, warned: bool
) -> None:
    """`bank_warnings` (Hangzhou): the same refund of 1,000 yuan drawn on the supervised
    account is a warning where the pack sets 500 a day, nothing where no pack warns."""
    from service.kit.db import make_sessionmaker
    from service.policy import knobs
    from service.risk import facts
    from service.risk.indicators import INDICATORS, Context

    factories.pack_override(engine, "330106", {"bank_warnings": {"daily_withdrawals": "500"}})
    try:
        refund = _refund_accepted(town, where)
        town.clock.now = datetime(2026, 9, 30, 12, 0, tzinfo=SHANGHAI)
        cfg = knobs.RiskConfig()
        with make_sessionmaker(engine)() as s:
            found = facts.gather(
                s, as_of=town.clock.now, needs=facts.Needs.of([cfg]),
                institution_ids=[refund["institution_id"]],
            )[refund["institution_id"]]  # fmt: skip
        ind = INDICATORS["bank_warning"](found, Context(as_of=town.clock.now,
                                                        region_refund_rate={}), cfg)  # fmt: skip
        assert (ind is not None) is warned
        if ind is not None:
            assert (ind.value, ind.threshold) == ("1000.00", "500.00")
            assert ind.evidence == [refund["instruction_id"]]
    finally:
        factories.drop_pack_overrides(engine, "330106")


def test_an_entry_gate_closes_prepaid_sales_while_on_a_credit_list(
    town: Town, engine: Engine
) -> None:
    """Siping's 2025 draft: no prepaid sales while on the dishonest-debtor list the regulator
    keeps. Both schools are on it; only the one whose pack's gate names the list is refused,
    and takes prepayments again once a regulator of its region takes it off."""
    factories.pack_override(
        engine, "330106", {"entry_gate": {"months_after_licence": 0,
                                          "credit_lists": ["dishonest_debtors"]}},
    )  # fmt: skip
    _, reg = factories.regulator(engine, "330000")
    try:
        schools = {where: school.id for where, school in town.schools.items()}
        for where, inst_id in schools.items():
            region_reg = reg if where == "330106" else factories.regulator(engine, "370000")[1]
            r = town.client.post(
                "/api/v1/credit-lists/entries", headers=bearer(region_reg),
                json={"list": "dishonest_debtors", "institution_id": inst_id,
                      "reason": "court judgment unpaid"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
        assert town.funded("370102")["status"] == "awaiting_payment"
        school = town.schools["330106"]
        order = {"course_id": school.course_id, "student_ref": "stu-4", "lessons": 10,
                 "amount": "1000.00"}  # fmt: skip
        r = town.client.post("/api/v1/enrollments", headers=bearer(school.key), json=order)
        assert r.status_code == 409 and r.json()["code"] == "credit_listed", r.text
        assert r.json()["list"] == "dishonest_debtors"
        listed = town.client.get("/api/v1/credit-lists", headers=bearer(reg)).json()["items"]
        assert [e["institution_id"] for e in listed] == [schools["330106"]]  # its region only
        r = town.client.post(
            "/api/v1/credit-lists/removals", headers=bearer(reg),
            json={"list": "dishonest_debtors", "institution_id": schools["330106"],
                  "reason": "judgment paid"},
        )  # fmt: skip
        assert r.status_code == 200 and r.json()["removed_at"], r.text
        assert town.funded("330106")["status"] == "awaiting_payment"
    finally:
        factories.drop_pack_overrides(engine, "330106")


def _parent_page(town: Town, e: dict[str, Any]) -> str:
    """The parent's page of the enrollment, signed in by the link, in Chinese."""
    import re

    c = town.client
    zh = {"Accept-Language": "zh-CN"}
    assert c.get(f"/parent/e/{e['id']}", headers=zh).status_code == 200
    r = c.post("/parent/sign-in", headers=zh, follow_redirects=False,
               data={"enrollment_id": e["id"], "access_code": e["access_code"],
                     "csrf": c.cookies["tg_pcsrf"]})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    page = c.get("/parent", headers=zh).text
    assert re.search(r'lang="zh', page), page[:300]
    return page


# Every deadline counted in working days, from a day a week before the end of 2026: 5 working
# days end in 2026 (settled) from 21 December, and in 2027 from 28 December (29, 30, 31
# December, 4 and 5 January: counted on the statutory holidays, New Year's Day off, and marked
# provisional). `chinesecalendar` 1.11 has the arrangements of 2004 to 2026.
ACROSS_THE_YEAR = [
    (datetime(2026, 12, 21, 10, 0, tzinfo=SHANGHAI), datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI), False),
    (datetime(2026, 12, 28, 10, 0, tzinfo=SHANGHAI), datetime(2027, 1, 5, 10, 0, tzinfo=SHANGHAI), True),
]  # fmt: skip


def _marks(page: str) -> int:
    """How many deadlines the page marks provisional."""
    return page.count('data-testid="provisional"')


def _pages_agree(pages: dict[str, str], provisional: bool) -> None:
    """A page in Chinese says 暂定 beside a provisional day and never the English word; the
    English page says provisional; neither marks a settled day."""
    assert _marks(pages["zh"]) == _marks(pages["en"]) == int(provisional), pages
    assert ("暂定" in pages["zh"]) is provisional and ">provisional<" not in pages["zh"]
    assert (">provisional<" in pages["en"]) is provisional


def _parent_pages(town: Town, e: dict[str, Any]) -> dict[str, str]:
    _parent_page(town, e)  # signed in
    pages = {lang: town.client.get(f"/parent?lang={lang}").text for lang in ("zh", "en")}
    assert all(f'<html lang="{lang}' in page for lang, page in pages.items()), pages
    return pages


def _workbench(town: Town, engine: Engine, settings: Settings) -> TestClient:
    """A client of the workbench signed in as a regulator of Zhejiang, on the town's clock."""
    _, token = factories.regulator(engine, "330000")
    c = TestClient(create_app(settings, engine=engine, clock=town.clock),
                   raise_server_exceptions=False, follow_redirects=False)  # fmt: skip
    c.get("/workbench/sign-in")
    r = c.post("/workbench/sign-in", data={"token": token, "csrf": c.cookies["tg_csrf"]})
    assert r.status_code == 303, r.text
    return c


def _workbench_pages(c: TestClient, path: str) -> dict[str, str]:
    found = {lang: c.get(path, params={"lang": lang}) for lang in ("zh", "en")}
    assert all(r.status_code == 200 for r in found.values()), found
    return {lang: r.text for lang, r in found.items()}


@pytest.mark.parametrize(("asked", "respond_by", "provisional"), ACROSS_THE_YEAR)
def test_a_refunds_answer_deadline_in_an_unpublished_year_is_provisional_wherever_shown(
    town: Town, engine: Engine, settings: Settings, asked: datetime, respond_by: datetime,
    provisional: bool,
) -> None:  # fmt: skip
    """`refund_answer_deadline` in working days: the parent's answer, the institution's and the
    regulator's lists, the parent's page, the institution's file and the overdue queue."""
    factories.pack_override(engine, "330106", {"refund_answer_deadline": {"working_days": 5}})
    try:
        e = town.funded("330106")
        town.clock.now = asked
        parent = _parent(town, e)
        r = town.client.post(
            "/api/v1/parent/refunds", headers=bearer(parent), json={"reason": "moving"}
        )
        assert r.status_code == 201, r.text
        assert datetime.fromisoformat(r.json()["respond_by"]) == respond_by
        assert r.json()["respond_by_provisional"] is provisional
        school = town.schools["330106"]
        for token in (school.key, parent):
            path = "/api/v1/refunds" if token == school.key else "/api/v1/parent/refunds"
            listed = town.client.get(path, headers=bearer(token)).json()["items"]
            assert [x["respond_by_provisional"] for x in listed] == [provisional]
        _pages_agree(_parent_pages(town, e), provisional)
        wb = _workbench(town, engine, settings)
        _pages_agree(_workbench_pages(wb, f"/workbench/institutions/{school.id}"), provisional)
        town.clock.now = respond_by.replace(hour=12)  # unanswered: overdue, in the queue
        queue = _workbench_pages(_workbench(town, engine, settings), "/workbench/disputes")
        assert all(e["id"][-8:] in page for page in queue.values())
        _pages_agree(queue, provisional)
    finally:
        factories.drop_pack_overrides(engine, "330106")


@pytest.mark.parametrize(("accepted", "pay_by", "provisional"), ACROSS_THE_YEAR)
def test_a_refunds_payment_deadline_in_an_unpublished_year_is_provisional_wherever_shown(
    town: Town, engine: Engine, settings: Settings, accepted: datetime, pay_by: datetime,
    provisional: bool,
) -> None:  # fmt: skip
    """`refund_payment_deadline` (the national 5 working days): the answer, the lists, the
    parent's page and the institution's file."""
    e = town.funded("330106")
    town.clock.now = accepted
    parent = _parent(town, e)
    asked = town.client.post(
        "/api/v1/parent/refunds", headers=bearer(parent), json={"reason": "moving"}
    )
    school = town.schools["330106"]
    r = town.client.post(
        f"/api/v1/refunds/{asked.json()['id']}/respond", headers=bearer(school.key),
        json={"decision": "accept", "reason": "agreed"},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "instructed", r.text
    assert datetime.fromisoformat(r.json()["pay_by"]) == pay_by
    assert r.json()["pay_by_provisional"] is provisional
    got = town.client.get(f"/api/v1/parent/refunds/{r.json()['id']}", headers=bearer(parent))
    assert got.json()["pay_by_provisional"] is provisional, got.text
    _pages_agree(_parent_pages(town, e), provisional)
    wb = _workbench(town, engine, settings)
    _pages_agree(_workbench_pages(wb, f"/workbench/institutions/{school.id}"), provisional)


@pytest.mark.parametrize(("ordered", "pay_by", "provisional"), ACROSS_THE_YEAR)
def test_an_unpaid_orders_pay_by_in_an_unpublished_year_is_provisional_wherever_shown(
    town: Town, engine: Engine, ordered: datetime, pay_by: datetime, provisional: bool
) -> None:
    """`unpaid_order_expiry` in working days (under a per-consumer cap): the order's answer,
    the enrollment read by the institution and by the parent, and the parent's page, which
    says by when to pay. Jinan sets no per-consumer cap: its order has no pay_by."""
    factories.pack_override(
        engine, "330106",
        {"prepay_caps": {"lessons": 60, "months": 3, "amount": "5000", "per_consumer": "20000"},
         "unpaid_order_expiry": {"working_days": 5}},
        sector="education_non_subject",
    )  # fmt: skip
    try:
        town.clock.now = ordered
        for where in ("370102", "330106"):
            school = town.schools[where]
            course = town.client.post(
                "/api/v1/courses", headers=bearer(school.key),
                json=factories.course_body("2027-01-11", n=10, category="non_subject",
                                           subject="basketball", price_per_lesson="100.00"),
            )  # fmt: skip
            assert course.json()["status"] == "approved", course.text
            r = town.client.post(
                "/api/v1/enrollments", headers=bearer(school.key),
                json={"course_id": course.json()["id"], "student_ref": "stu-9", "lessons": 10,
                      "amount": "1000.00"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            e = r.json()
            got = town.client.get(f"/api/v1/enrollments/{e['id']}", headers=bearer(school.key))
            parent = _parent(town, e)
            mine = town.client.get("/api/v1/parent/enrollment", headers=bearer(parent)).json()
            pages = _parent_pages(town, e)
            for answer in (e, got.json(), mine):
                if where == "370102":
                    assert answer["pay_by"] is None and answer["pay_by_provisional"] is False
                else:
                    assert datetime.fromisoformat(answer["pay_by"]) == pay_by, answer
                    assert answer["pay_by_provisional"] is provisional, answer
            assert ('data-testid="pay-by"' in pages["en"]) is (where == "330106")
            assert ("请于" in pages["zh"]) is (where == "330106")
            _pages_agree(pages, provisional and where == "330106")
    finally:
        factories.drop_pack_overrides(engine, "330106")


def _course(town: Town, where: str, start: str) -> str:
    """A second course of the school: 10 basketball lessons on school days from `start`."""
    r = town.client.post(
        "/api/v1/courses", headers=bearer(town.schools[where].key),
        json=factories.course_body(start, n=10, category="non_subject", subject="basketball",
                                   price_per_lesson="100.00"),
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    return str(r.json()["id"])


@pytest.mark.parametrize(
    ("where", "confirm_until", "respond_by"),
    [
        # Calendar days (the national defaults: 7 and 5) run through the holiday.
        ("370102", datetime(2026, 2, 20, 10, 0, tzinfo=SHANGHAI),
         datetime(2026, 2, 18, 10, 0, tzinfo=SHANGHAI)),
        # Working days skip 15-23 February and count the make-up Saturdays 14 and 28
        # February: 14, 24, 25, 26, 27, 28 February and 2 March.
        ("330106", datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI),
         datetime(2026, 2, 27, 10, 0, tzinfo=SHANGHAI)),
    ],
)  # fmt: skip
def test_a_lessons_window_and_a_refunds_answer_across_the_spring_festival(
    town: Town, engine: Engine, where: str, confirm_until: datetime, respond_by: datetime
) -> None:
    """The same lesson and refund on Friday 13 February 2026, the eve of the Spring Festival
    holiday (15 to 23 February off, 14 and 28 February worked): Jinan counts calendar days,
    Zhejiang 7 working days for the lesson (its pack) and, here, 5 for the refund."""
    factories.pack_override(engine, "330106", {"refund_answer_deadline": {"working_days": 5}})
    try:
        town.clock.now = datetime(2026, 2, 2, 9, 0, tzinfo=SHANGHAI)
        e = town.funded(where, _course(town, where, "2026-02-09"))
        town.clock.now = datetime(2026, 2, 13, 10, 0, tzinfo=SHANGHAI)
        r = town.client.post(
            f"/api/v1/enrollments/{e['id']}/consumptions", headers=bearer(town.schools[where].key),
            json={"lessons": 1, "occurred_at": town.clock.now.isoformat()},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert datetime.fromisoformat(r.json()["confirm_until"]) == confirm_until
        assert r.json()["confirm_until_provisional"] is False
        parent = _parent(town, e)
        asked = town.client.post(
            "/api/v1/parent/refunds", headers=bearer(parent), json={"reason": "moving"}
        )
        assert asked.status_code == 201, asked.text
        assert datetime.fromisoformat(asked.json()["respond_by"]) == respond_by
    finally:
        factories.drop_pack_overrides(engine, "330106")


@pytest.mark.parametrize(("where", "status"), [("370102", 422), ("330106", 201)])
def test_the_earliest_collection_comes_from_the_pack(
    town: Town, engine: Engine, where: str, status: int
) -> None:
    """`earliest_collection`: on 28 September an order for lessons from 14 December is
    collected too early where a collection may come at most a month before the first lesson
    (the national rule) and not where a pack allows three months (an override)."""
    factories.pack_override(engine, "330106", {"earliest_collection": {"months_before_start": 3}})
    try:
        course = _course(town, where, "2026-12-14")
        r = town.client.post(
            "/api/v1/enrollments", headers=bearer(town.schools[where].key),
            json={"course_id": course, "student_ref": "stu-5", "lessons": 10, "amount": "1000.00"},
        )  # fmt: skip
        assert r.status_code == status, r.text
        if status == 422:
            assert r.json()["code"] == "collected_too_early"
    finally:
        factories.drop_pack_overrides(engine, "330106")
