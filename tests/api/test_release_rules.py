"""Conformance of release under two packs: the same course, enrollment and lessons in a district
holding the national defaults (per lesson, no minimum balance) and in one whose pack sets the
rule, released by the same `release_batch` runs. Both districts' confirmation windows are set
to 0 days here, so a lesson is due at once and only the rule under test decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
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

PLAIN, RULED = "370103", "370104"  # Jinan's Shizhong and Huaiyin: no other test writes them
WED = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # the day before National Day


@dataclass
class School:
    key: str
    escrow: str
    course_id: str


@dataclass
class Pair:
    client: TestClient
    clock: Clock
    bank: factories.BankCred
    reg: str
    schools: dict[str, School]

    def bank_post(self, path: str, body: Any) -> Any:
        raw = factories.dumps(body)
        headers = {**self.bank.headers("POST", path, raw), "content-type": "application/json"}
        return self.client.post(path, content=raw, headers=headers)

    def funded(self, where: str, lessons: int = 10) -> dict[str, Any]:
        school = self.schools[where]
        r = self.client.post(
            "/api/v1/enrollments",
            headers=bearer(school.key),
            json={"course_id": school.course_id, "student_ref": "stu", "lessons": lessons,
                  "amount": f"{100 * lessons}.00"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        e = r.json()
        paid = self.bank_post("/api/v1/bank/deposits", {
            "bank_txn_id": f"R{e['id'][-12:]}", "account_no": school.escrow,
            "payment_reference": e["payment_reference"], "amount": e["amount_due"],
            "paid_at": self.clock.now.isoformat()})  # fmt: skip
        assert paid.status_code == 201, paid.text
        return e

    def lesson(self, where: str, e: dict[str, Any], n: int = 1) -> None:
        r = self.client.post(
            f"/api/v1/enrollments/{e['id']}/consumptions",
            headers=bearer(self.schools[where].key),
            json={"lessons": n, "occurred_at": self.clock.now.isoformat()},
        )
        assert r.status_code == 201, r.text

    def released(self, at: datetime) -> dict[str, Decimal]:
        """Run release_batch at `at`; what each school was released by it."""
        before = self._pending()
        self.clock.now = max(self.clock.now, at)
        r = self.client.post("/api/v1/jobs/release_batch/run", headers=bearer(self.reg),
                             json={"as_of": at.isoformat()})  # fmt: skip
        assert r.status_code == 200, r.text
        after = self._pending()
        return {w: after[w] - before[w] for w in self.schools}

    def _pending(self) -> dict[str, Decimal]:
        r = self.client.get("/api/v1/bank/instructions", headers=self.bank.headers(
            "GET", "/api/v1/bank/instructions"))  # fmt: skip
        assert r.status_code == 200, r.text
        items = [i for i in r.json()["items"] if i["kind"] == "release"]
        return {
            w: sum((Decimal(i["amount"]) for i in items if i["account_no"] == s.escrow),
                   Decimal("0.00"))
            for w, s in self.schools.items()
        }  # fmt: skip


@pytest.fixture
def pair(engine: Engine, settings: Settings) -> Iterator[Pair]:
    clock = Clock(now=datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI))
    app = create_app(settings, engine=engine, clock=clock)
    for where in (PLAIN, RULED):
        factories.drop_pack_overrides(engine, where)
        factories.pack_override(engine, where, {"confirmation_window": {"days": 0}})
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            bank = factories.bank(engine)
            _, reg = factories.regulator(engine, "370100")
            schools = {}
            for where in (PLAIN, RULED):
                body = factories.institution_body(bank.id, where, category="non_subject")
                inst = client.post("/api/v1/institutions", json=body, headers=bearer(reg))
                assert inst.status_code == 201, inst.text
                key = inst.json()["api_key"]
                course = client.post(
                    "/api/v1/courses",
                    json=factories.course_body("2026-10-12", n=20, category="non_subject",
                                               subject="basketball", price_per_lesson="100.00"),
                    headers=bearer(key),
                ).json()  # fmt: skip
                assert course["status"] == "approved", course
                schools[where] = School(key, body["escrow_account_no"], course["id"])
            yield Pair(client, clock, bank, reg, schools)
    finally:
        for where in (PLAIN, RULED):
            factories.drop_pack_overrides(engine, where)


def rule(engine: Engine, rules: dict[str, Any]) -> None:
    factories.pack_override(engine, RULED, rules)


def test_weekly_release_waits_for_its_weekday(pair: Pair, engine: Engine) -> None:
    rule(engine, {"release_cadence": {"mode": "weekly", "weekday": 1}})  # Mondays (Xiamen)
    plain, ruled = pair.funded(PLAIN), pair.funded(RULED)
    pair.clock.now = WED
    pair.lesson(PLAIN, plain)
    pair.lesson(RULED, ruled)
    thursday = pair.released(WED + timedelta(days=1))
    assert thursday == {PLAIN: Decimal("100.00"), RULED: Decimal("0.00")}
    monday = pair.released(datetime(2026, 10, 5, 9, 0, tzinfo=SHANGHAI))
    assert monday == {PLAIN: Decimal("0.00"), RULED: Decimal("100.00")}


def test_after_the_last_lesson_the_whole_order_and_a_complaint_holds_it(
    pair: Pair, engine: Engine
) -> None:
    # Wuhu: the whole order 15 working days after its last lesson, later while a complaint is
    # open. Across National Day: 2026-09-30 + 15 working days is 2026-10-27.
    rule(engine, {"release_cadence": {"mode": "after_last_lesson", "working_days_after": 15},
                  "complaint_holds_release": {"enabled": True}})  # fmt: skip
    plain, ruled = pair.funded(PLAIN, 2), pair.funded(RULED, 2)
    pair.clock.now = WED - timedelta(days=1)
    pair.lesson(PLAIN, plain)
    pair.lesson(RULED, ruled)
    assert pair.released(WED - timedelta(hours=12)) == {PLAIN: Decimal("100.00"),
                                                        RULED: Decimal("0.00")}  # fmt: skip
    pair.clock.now = WED
    pair.lesson(PLAIN, plain)
    pair.lesson(RULED, ruled)  # the order's last lesson
    due = datetime(2026, 10, 27, 10, 0, tzinfo=SHANGHAI)
    assert pair.released(due - timedelta(hours=1)) == {PLAIN: Decimal("100.00"),
                                                       RULED: Decimal("0.00")}  # fmt: skip
    parent = pair.client.post(
        "/api/v1/parent/sessions",
        json={"enrollment_id": ruled["id"], "access_code": ruled["access_code"]},
    ).json()["token"]
    filed = pair.client.post(
        "/api/v1/parent/complaints",
        headers=bearer(parent),
        json={"category": "quality", "text": "the coach never came"},
    )
    assert filed.status_code == 201, filed.text  # fmt: skip
    assert pair.released(due) == {PLAIN: Decimal("0.00"), RULED: Decimal("0.00")}


def test_an_order_released_after_its_last_lesson_once_no_complaint(
    pair: Pair, engine: Engine
) -> None:
    rule(engine, {"release_cadence": {"mode": "after_last_lesson", "working_days_after": 15}})
    ruled = pair.funded(RULED, 2)
    pair.clock.now = WED
    pair.lesson(RULED, ruled, 2)
    due = datetime(2026, 10, 27, 10, 0, tzinfo=SHANGHAI)
    assert pair.released(due - timedelta(minutes=1))[RULED] == Decimal("0.00")
    assert pair.released(due)[RULED] == Decimal("200.00")


def test_the_minimum_balance_is_kept_and_the_payout_cap_holds(pair: Pair, engine: Engine) -> None:
    # Zigong: the account keeps 20% of what the running orders prepaid (1,000 -> 200), so of
    # 900 earned, 800 is released; Rongcheng: a month's payouts at most twice that (400).
    rule(engine, {"minimum_balance": {"share_of_owed": "0.2"}})
    plain, ruled = pair.funded(PLAIN), pair.funded(RULED)
    pair.clock.now = WED
    for _ in range(9):
        pair.lesson(PLAIN, plain)
        pair.lesson(RULED, ruled)
    assert pair.released(WED + timedelta(hours=1)) == {PLAIN: Decimal("900.00"),
                                                       RULED: Decimal("800.00")}  # fmt: skip
    rule(engine, {"payout_cap": {"monthly_multiple_of_minimum": "2"}})
    other = pair.funded(RULED)
    for _ in range(9):
        pair.lesson(RULED, other)
    # Running orders prepaid 2,000 -> a minimum of 400, a cap of 800 this month: 800 is paid
    # already (September), so nothing more until October.
    assert pair.released(WED + timedelta(hours=2))[RULED] == Decimal("0.00")
    october = pair.released(datetime(2026, 10, 1, 9, 0, tzinfo=SHANGHAI))[RULED]
    assert october == Decimal("800.00")


def test_an_open_complaint_holds_release_where_the_pack_says_so(pair: Pair, engine: Engine) -> None:
    """`complaint_holds_release` alone (Wuhu, Gansu), per-lesson release in both districts:
    the same lesson and the same complaint on each enrollment; the plain district releases the
    lesson, the ruled one holds it while the complaint is open."""
    rule(engine, {"complaint_holds_release": {"enabled": True}})
    orders = {where: pair.funded(where) for where in (PLAIN, RULED)}
    pair.clock.now = WED
    for where, e in orders.items():
        pair.lesson(where, e)
        parent = pair.client.post(
            "/api/v1/parent/sessions",
            json={"enrollment_id": e["id"], "access_code": e["access_code"]},
        ).json()["token"]
        filed = pair.client.post("/api/v1/parent/complaints", headers=bearer(parent),
                                 json={"category": "quality", "text": "no coach"})  # fmt: skip
        assert filed.status_code == 201, filed.text
    assert pair.released(WED + timedelta(hours=1)) == {PLAIN: Decimal("100.00"),
                                                       RULED: Decimal("0.00")}  # fmt: skip


def test_the_payout_cap_holds_a_months_releases(pair: Pair, engine: Engine) -> None:
    """`payout_cap` (Rongcheng: a month's payouts at most twice the minimum balance), both
    districts keeping 20% of what is owed: of 900 earned on orders of 1,000, the plain
    district releases 800 (the minimum balance kept), the ruled one 400 (twice the 200)."""
    factories.pack_override(engine, PLAIN, {"minimum_balance": {"share_of_owed": "0.2"}})
    rule(engine, {"minimum_balance": {"share_of_owed": "0.2"},
                  "payout_cap": {"monthly_multiple_of_minimum": "2"}})  # fmt: skip
    plain, ruled = pair.funded(PLAIN), pair.funded(RULED)
    pair.clock.now = WED
    for _ in range(9):
        pair.lesson(PLAIN, plain)
        pair.lesson(RULED, ruled)
    assert pair.released(WED + timedelta(hours=1)) == {PLAIN: Decimal("800.00"),
                                                       RULED: Decimal("400.00")}  # fmt: skip
