"""Conformance: a gym differs from a school only in data. In Shanghai's Xuhui district
(310104) a non-subject school runs under the national education pack and a gym under
Shanghai's 2025 fitness pack (service.policy.seeds, `shanghai-fitness`): the same course filed
and the same enrollments made give the two outcomes the texts require — a card of more than 60
sessions or 20,000 yuan is refused at filing (`card_over_cap`), and no consumer holds more
than 20,000 yuan prepaid at the gym (409 `prepay_over_consumer_cap`), lessons taken for good
and refunds paid freeing room. On SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.flows import onboarding
from service.flows.enrollments import held_by
from service.kit.clock import SHANGHAI
from service.kit.db import make_sessionmaker, run_in_transaction
from service.registry import institutions
from service.registry.models import Regulator
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import Clock

XUHUI = "310104"


def _monthly(n: int) -> list[dict[str, str]]:
    """`n` 45-minute sessions on the 12th of each month from 2026-10-12, 16:00 Beijing time:
    a membership's visits, its term n - 1 months."""
    from datetime import timedelta

    out = []
    for i in range(n):
        year, month = 2026 + (9 + i) // 12, (9 + i) % 12 + 1
        start = datetime(year, month, 12, 16, 0, tzinfo=SHANGHAI)
        out.append({"starts_at": start.isoformat(),
                    "ends_at": (start + timedelta(minutes=45)).isoformat()})  # fmt: skip
    return out


CAP = Decimal("20000")
_refs = itertools.count(1)


@dataclass
class Seller:
    id: str
    key: str
    escrow: str
    course_id: str = ""


@dataclass
class Xuhui:
    client: TestClient
    clock: Clock
    engine: Engine
    bank: factories.BankCred
    sellers: dict[str, Seller] = field(default_factory=dict)
    regulator: str = ""  # Shanghai's (310000) bearer token

    def file(self, who: str, *, sessions: int, price: str, card: str | None = None,
             every: int = 1) -> dict[str, Any]:  # fmt: skip
        body = factories.course_body("2026-10-12", n=sessions, category="non_subject",
                                     subject="fitness", price_per_lesson=price)  # fmt: skip
        if every > 1:
            body["sessions"] = _monthly(sessions)
        if card is not None:
            body["card_kind"] = card
        r = self.client.post("/api/v1/courses", json=body, headers=bearer(self.sellers[who].key))
        assert r.status_code == 201, r.text
        return dict(r.json())

    def enroll(self, who: str, student: str, lessons: int, amount: str) -> Any:
        s = self.sellers[who]
        return self.client.post(
            "/api/v1/enrollments",
            headers=bearer(s.key),
            json={"course_id": s.course_id, "student_ref": student, "lessons": lessons,
                  "amount": amount},
        )  # fmt: skip

    def signed(self, method: str, path: str, body: Any = None) -> Any:
        raw = factories.dumps(body) if body is not None else b""
        headers = self.bank.headers(method, path, raw)
        if body is None:
            return self.client.get(path, headers=headers)
        headers["content-type"] = "application/json"
        return self.client.post(path, content=raw, headers=headers)

    def pay(self, who: str, e: dict[str, Any]) -> None:
        r = self.signed("POST", "/api/v1/bank/deposits", {
            "bank_txn_id": f"T{e['id'][-16:]}", "account_no": self.sellers[who].escrow,
            "payment_reference": e["payment_reference"], "amount": e["amount_due"],
            "paid_at": self.clock.now.isoformat()})  # fmt: skip
        assert r.status_code == 201, r.text

    def refund_paid(self, who: str, e: dict[str, Any]) -> None:
        """The parent asks for everything back, the gym accepts, the bank pays."""
        login = {"enrollment_id": e["id"], "access_code": e["access_code"]}
        token = self.client.post("/api/v1/parent/sessions", json=login).json()["token"]
        r = self.client.post("/api/v1/parent/refunds", headers=bearer(token),
                             json={"reason": "moving"})  # fmt: skip
        assert r.status_code == 201, r.text
        r = self.client.post(f"/api/v1/refunds/{r.json()['id']}/respond",
                             headers=bearer(self.sellers[who].key),
                             json={"decision": "accept", "reason": "ok"})  # fmt: skip
        assert r.status_code == 200, r.text
        path = "/api/v1/bank/instructions?status=pending&limit=500"
        escrow = self.sellers[who].escrow
        for ins in self.signed("GET", path).json()["items"]:
            if ins["kind"] == "refund" and ins["account_no"] == escrow:
                done = self.signed("POST", f"/api/v1/bank/instructions/{ins['id']}/result", {
                    "status": "executed", "bank_txn_id": f"P{ins['id'][-16:]}",
                    "executed_at": self.clock.now.isoformat(), "reason": None})  # fmt: skip
                assert done.status_code == 200, done.text

    def held(self, who: str, student: str, at: datetime | None = None) -> Decimal:
        with make_sessionmaker(self.engine)() as s:
            return held_by(s, self.sellers[who].id, student, at=at)


def _gym(engine: Engine, bank_id: str, regulator_id: str) -> tuple[str, str, str]:
    """The gym registered through the domain: the API's registration names the education
    categories only (the contract), the demo's gym is made the same way (tools/demo.py)."""
    body = factories.institution_body(bank_id, XUHUI, category="fitness")

    def work(s: Any) -> tuple[str, str]:
        reg = s.get(Regulator, regulator_id)
        inst, key = onboarding.register_institution(
            s, regulator=reg, data=institutions.NewInstitution(**body), now=datetime.now(UTC)
        )
        return inst.id, key

    inst_id, key = run_in_transaction(make_sessionmaker(engine), work)
    return inst_id, key, body["escrow_account_no"]


@pytest.fixture
def xuhui(engine: Engine, settings: Settings) -> Iterator[Xuhui]:
    clock = Clock(now=datetime(2026, 9, 28, 9, 0, tzinfo=SHANGHAI))
    app = create_app(settings, engine=engine, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        bank = factories.bank(engine)
        reg_id, reg = factories.regulator(engine, "310000")
        town = Xuhui(client, clock, engine, bank, regulator=reg)
        body = factories.institution_body(bank.id, XUHUI, category="non_subject")
        r = client.post("/api/v1/institutions", json=body, headers=bearer(reg))
        assert r.status_code == 201, r.text
        town.sellers["school"] = Seller(r.json()["id"], r.json()["api_key"],
                                        body["escrow_account_no"])  # fmt: skip
        town.sellers["gym"] = Seller(*_gym(engine, bank.id, reg_id))
        for who in ("school", "gym"):  # 60 sessions at 300: 18,000 yuan, within every cap
            course = town.file(who, sessions=60, price="300.00")
            assert course["status"] == "approved", course
            town.sellers[who].course_id = course["id"]
        yield town


@pytest.mark.parametrize(
    ("sessions", "price", "gym_breaks"),
    [
        (60, "300.00", []),  # 18,000 yuan: a card the gym may sell
        (61, "100.00", ["sessions"]),  # 61 sessions: over 60
        (50, "401.00", ["amount"]),  # 20,050 yuan: over 20,000
        (70, "300.00", ["sessions", "amount"]),
    ],
)
def test_the_same_course_filed_by_a_school_and_a_gym(
    xuhui: Xuhui, sessions: int, price: str, gym_breaks: list[str]
) -> None:
    school = xuhui.file("school", sessions=sessions, price=price)
    assert school["status"] == "approved", school  # a term: the caps bite at enrollment
    gym = xuhui.file("gym", sessions=sessions, price=price)
    assert gym["status"] == ("rejected" if gym_breaks else "approved"), gym["violations"]
    assert [v["rule"] for v in gym["violations"]] == ["card_over_cap"] * len(gym_breaks)
    assert [v["cap"] for v in gym["violations"]] == gym_breaks
    assert all("pack allows at most" in v["message"] for v in gym["violations"])


def test_the_same_enrollments_at_a_school_and_a_gym(xuhui: Xuhui) -> None:
    """Four orders of 15 sessions at 300 (4,500 yuan each) for one consumer, then a fifth: the
    school takes all five (no per-consumer cap in the education pack; each is within 5,000),
    the gym refuses the fifth (22,500 > 20,000). A refund paid frees the room."""
    student = f"member-{next(_refs)}"
    for who in ("school", "gym"):
        made = [xuhui.enroll(who, student, 15, "4500.00") for _ in range(4)]
        assert [r.status_code for r in made] == [201] * 4
        fifth = xuhui.enroll(who, student, 15, "4500.00")
        if who == "school":
            assert fifth.status_code == 201, fifth.text
            continue
        assert fifth.status_code == 409, fifth.text
        p = fifth.json()
        assert p["code"] == "prepay_over_consumer_cap"
        assert (p["limit"], p["held"]) == ("20000.00", "18000.00")
        assert xuhui.held("gym", student) == Decimal("18000.00")
        # Another consumer is not held to this one's total.
        assert xuhui.enroll("gym", f"member-{next(_refs)}", 15, "4500.00").status_code == 201
        first = made[0].json()
        xuhui.pay("gym", first)
        xuhui.refund_paid("gym", first)
        assert xuhui.held("gym", student) == Decimal("13500.00")
        assert xuhui.enroll("gym", student, 15, "4500.00").status_code == 201


def test_a_cancelled_enrollment_holds_no_room(xuhui: Xuhui) -> None:
    """An enrollment `cancelled` (made for a successor's transfer the bank refused, never
    paid: docs/winddown.md) is owed by nobody: it frees the consumer's room at the gym."""
    from sqlalchemy import update

    from service.flows.models import Enrollment

    student = f"member-{next(_refs)}"
    made = [xuhui.enroll("gym", student, 20, "6000.00") for _ in range(3)]
    assert [r.status_code for r in made] == [201] * 3
    assert xuhui.enroll("gym", student, 10, "3000.00").status_code == 409
    with xuhui.engine.begin() as c:
        c.execute(update(Enrollment).where(Enrollment.id == made[0].json()["id"])
                  .values(status="cancelled"))  # fmt: skip
    assert xuhui.held("gym", student) == Decimal("12000.00")
    assert xuhui.enroll("gym", student, 10, "3000.00").status_code == 201


# One step of a consumer's history at the gym: enrol for an amount (a multiple of 300 yuan,
# 1 to 20 sessions) or have one of their enrollments paid and refunded in full.
_steps = st.lists(
    st.one_of(
        st.tuples(st.just("enrol"), st.integers(min_value=1, max_value=20)),
        st.tuples(st.just("refund"), st.integers(min_value=0, max_value=9)),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=_steps)
def test_no_sequence_takes_a_consumer_over_the_cap(xuhui: Xuhui, steps: list[Any]) -> None:
    """Property: under any sequence of enrollments and refunds, what one consumer holds at the
    gym never passes 20,000 yuan, and an enrollment is refused exactly when it would pass it
    (a model: the amounts of the enrollments not refunded)."""
    student = f"prop-{next(_refs)}"
    live: list[tuple[dict[str, Any], Decimal]] = []
    for kind, n in steps:
        if kind == "enrol":
            amount = Decimal(300 * n)
            r = xuhui.enroll("gym", student, n, f"{amount}.00")
            model = sum((a for _, a in live), Decimal(0))
            assert (r.status_code == 409) == (model + amount > CAP), (r.status_code, r.text)
            if r.status_code == 201:
                live.append((r.json(), amount))
            else:
                assert r.json()["code"] == "prepay_over_consumer_cap"
        elif live:
            e, _ = live.pop(n % len(live))
            xuhui.pay("gym", e)
            xuhui.refund_paid("gym", e)
        held = xuhui.held("gym", student)
        assert held == sum((a for _, a in live), Decimal(0))
        assert held <= CAP


def test_hot_paths_read_no_pack_after_the_first_of_the_day(xuhui: Xuhui) -> None:
    """Packs are cached per region, sector and day (service.policy.packs): once the day's
    gym pack is resolved, an enrollment, a deposit batch and a lesson report issue no
    statement that reads the packs' table (counted by a listener on every statement)."""
    import sqlalchemy as sa

    def enrolled() -> dict[str, Any]:
        r = xuhui.enroll("gym", f"hot-{next(_refs)}", 5, "1500.00")
        assert r.status_code == 201, r.text
        return dict(r.json())

    def batch(es: list[dict[str, Any]]) -> None:
        r = xuhui.signed("POST", "/api/v1/bank/deposits/batch", {"deposits": [
            {"bank_txn_id": f"B{e['id'][-16:]}", "account_no": xuhui.sellers["gym"].escrow,
             "payment_reference": e["payment_reference"], "amount": e["amount_due"],
             "paid_at": xuhui.clock.now.isoformat()} for e in es]})  # fmt: skip
        assert r.status_code < 300, r.text

    def report(e: dict[str, Any]) -> None:
        r = xuhui.client.post(
            f"/api/v1/enrollments/{e['id']}/consumptions",
            headers=bearer(xuhui.sellers["gym"].key),
            json={"lessons": 1, "occurred_at": xuhui.clock.now.isoformat()},
        )
        assert r.status_code == 201, r.text

    first, second = [enrolled(), enrolled()], [enrolled(), enrolled()]
    batch(first)
    report(first[0])  # the day's first of each: may resolve the pack
    seen: list[str] = []

    def statement(*args: object) -> None:
        seen.append(str(args[2]))

    sa.event.listen(xuhui.engine, "before_cursor_execute", statement)
    try:
        third = enrolled()
        batch([*second, third])
        report(first[1])
        report(second[0])
    finally:
        sa.event.remove(xuhui.engine, "before_cursor_execute", statement)
    assert len(seen) > 10, "the enrollment, the batch and the reports ran statements"
    assert not [q for q in seen if "rule_pack" in q], [q for q in seen if "rule_pack" in q]


def _race(xuhui: Xuhui, settings: Settings, student: str) -> list[str]:
    """Two orders of 12,000 yuan for `student` at the gym, each in its own transaction,
    started together: what each came to ("made" or the refusal's code)."""
    import threading

    from service.errors import DomainError
    from service.flows import enrollments
    from service.registry.models import Institution

    sessions = make_sessionmaker(xuhui.engine)
    gym, start = xuhui.sellers["gym"], threading.Barrier(2)
    outcomes: list[str] = []

    def work(s: Any) -> None:
        inst = s.get(Institution, gym.id)
        enrollments.create(
            s, institution=inst, course_id=gym.course_id, student_ref=student, lessons=40,
            amount=Decimal("12000.00"), now=xuhui.clock.now, settings=settings,
        )  # fmt: skip

    def order() -> None:
        start.wait(10)  # not inside: SQLite's second BEGIN IMMEDIATE waits for the first
        try:
            run_in_transaction(sessions, work)
            outcomes.append("made")
        except DomainError as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # said in the assertion, not lost in a thread
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=order) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_two_orders_of_one_consumer_at_once_are_judged_one_after_the_other(
    xuhui: Xuhui, settings: Settings
) -> None:
    """Two enrollments of 12,000 yuan for one consumer in two transactions at once: together
    they would pass 20,000, so exactly one is made and the other refused, whichever commits
    first (PostgreSQL: the consumer's advisory lock; SQLite: one writer). Five times."""
    for _ in range(5):
        student = f"race-{next(_refs)}"
        outcomes = _race(xuhui, settings, student)
        assert sorted(outcomes) == ["made", "prepay_over_consumer_cap"], outcomes
        assert xuhui.held("gym", student) == Decimal("12000.00")


def test_a_card_refused_is_named_in_the_officers_language(xuhui: Xuhui, settings: Settings) -> None:
    """The gym's page lists a card filed over the caps by the rule's name and the cap passed,
    in Chinese on a Chinese page (no rule code, no English message), the message in English."""
    from tests.api.test_national_pages import _signed_in

    xuhui.file("gym", sessions=70, price="300.00")
    c = _signed_in(xuhui.engine, settings, "310000", "上海市市场监管局")
    page = c.get(f"/workbench/institutions/{xuhui.sellers['gym'].id}?lang=zh").text
    assert "次卡超过本地区规则包的上限：每张卡不超过 60 次" in page
    assert "次卡超过本地区规则包的上限：每张卡不超过 ¥20,000.00" in page
    assert "card_over_cap" not in page and "pack allows" not in page
    english = c.get(f"/workbench/institutions/{xuhui.sellers['gym'].id}?lang=en").text
    assert "A card over the region&#39;s pack caps: a card of 70 sessions" in english


@pytest.mark.parametrize(
    ("card", "sessions", "every", "price", "gym_breaks"),
    [
        ("membership", 25, 31, "200.00", []),  # 5,000 yuan over 24 months: within the caps
        ("membership", 20, 31, "251.00", [("membership_amount", "5000.00", "5020.00")]),
        ("membership", 26, 31, "100.00", [("membership_months", 24, 25)]),  # 2,600 yuan
        (
            "membership",
            27,
            31,
            "300.00",
            [("membership_amount", "5000.00", "8100.00"), ("membership_months", 24, 26)],
        ),
        ("stored_value", 50, 1, "100.00", []),  # 5,000 yuan
        ("stored_value", 50, 1, "101.00", [("stored_value_amount", "5000.00", "5050.00")]),
        ("sessions", 61, 1, "100.00", [("sessions", 60, 61)]),
    ],
)
def test_every_kind_of_card_is_held_to_its_caps(
    xuhui: Xuhui, card: str, sessions: int, every: int, price: str, gym_breaks: list[Any]
) -> None:
    """Shanghai's 2025 fitness pack caps each kind of card: a membership at 5,000 yuan and a
    24-month term, a stored value at 5,000 yuan, a card of sessions at 60 sessions and 20,000
    yuan. A gym's card over a cap of its kind is rejected at filing (`card_over_cap`, with the
    pack's rule, its limit and the card's value) and the same answer comes from
    `POST /courses/check`; the same course filed by a school is approved (no card caps)."""
    school = xuhui.file("school", sessions=sessions, price=price, card=card, every=every)
    assert school["status"] == "approved", school
    gym = xuhui.file("gym", sessions=sessions, price=price, card=card, every=every)
    assert gym["card_kind"] == card
    assert gym["status"] == ("rejected" if gym_breaks else "approved"), gym["violations"]
    got = [(v["cap"], v["limit"], v["value"]) for v in gym["violations"]]
    assert got == gym_breaks
    assert all(v["rule"] == "card_over_cap" and v["card"] == card for v in gym["violations"])
    assert [v["pack_rule"] for v in gym["violations"]] == [
        "card_caps." + cap for cap, _, _ in gym_breaks
    ]
    body = factories.course_body(
        "2026-10-12",
        n=sessions,
        category="non_subject",
        subject="fitness",
        price_per_lesson=price,
        card_kind=card,
    )
    if every > 1:
        body["sessions"] = _monthly(sessions)
    checked = xuhui.client.post("/api/v1/courses/check", json=body,
                                headers=bearer(xuhui.sellers["gym"].key)).json()  # fmt: skip
    assert checked["violations"] == gym["violations"]


def test_a_card_kind_refused_is_named_in_the_officers_language(
    xuhui: Xuhui, settings: Settings
) -> None:
    """A membership and a stored-value card over the caps are named by their kind and the cap
    passed on a Chinese page; the English page gives the message with its numbers."""
    from tests.api.test_national_pages import _signed_in

    xuhui.file("gym", sessions=27, price="300.00", card="membership", every=31)
    xuhui.file("gym", sessions=50, price="101.00", card="stored_value")
    c = _signed_in(xuhui.engine, settings, "310000", "上海市市场监管局")
    page = c.get(f"/workbench/institutions/{xuhui.sellers['gym'].id}?lang=zh").text
    assert "会员卡超过本地区规则包的上限：每张卡不超过 ¥5,000.00" in page
    assert "会员卡超过本地区规则包的上限：期限不超过 24 个月" in page
    assert "储值卡超过本地区规则包的上限：每张卡不超过 ¥5,000.00" in page
    assert "card_over_cap" not in page and "pack allows" not in page
    english = c.get(f"/workbench/institutions/{xuhui.sellers['gym'].id}?lang=en").text
    assert "A membership card over the region&#39;s pack caps: a membership of 26 months" in english
    assert "A stored-value card over the region&#39;s pack caps: a stored value of" in english


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, []),  # the school sector of the course's category: no card caps
        ({"region_code": XUHUI}, []),
        ({"sector": "fitness"}, ["sessions", "amount"]),  # Shanghai's fitness pack
        ({"sector": "fitness", "region_code": XUHUI}, ["sessions", "amount"]),
        ({"institution_id": "gym"}, ["sessions", "amount"]),  # the gym's own sector
        ({"institution_id": "school"}, []),
        ({"institution_id": "gym", "sector": "education_non_subject"}, []),
    ],
)
def test_a_regulator_checks_a_course_under_a_sector(
    xuhui: Xuhui, extra: dict[str, str], expected: list[str]
) -> None:
    """`POST /courses/check` by a regulator: a card of 70 sessions at 300 yuan judged under
    the pack of the sector named, else of the institution named (its region and sector), else
    the school sector of the course's category."""
    if "institution_id" in extra:
        extra = extra | {"institution_id": xuhui.sellers[extra["institution_id"]].id}
    body = factories.course_body("2026-10-12", n=70, category="non_subject", subject="fitness",
                                 price_per_lesson="300.00") | extra  # fmt: skip
    r = xuhui.client.post("/api/v1/courses/check", json=body, headers=bearer(xuhui.regulator))
    assert r.status_code == 200, r.text
    assert [v.get("cap") for v in r.json()["violations"]] == expected
    assert all(v["rule"] == "card_over_cap" for v in r.json()["violations"])


def test_a_course_check_names_only_an_institution_in_scope(xuhui: Xuhui, engine: Engine) -> None:
    """A regulator may name only an institution of their region (404 otherwise, as for any
    institution they cannot see); an institution only itself; a sector outside the list is
    422."""
    body = factories.course_body("2026-10-12", n=10, category="non_subject", subject="fitness",
                                 price_per_lesson="300.00")  # fmt: skip
    _, beijing = factories.regulator(engine, "110000")
    gym = xuhui.sellers["gym"]
    r = xuhui.client.post("/api/v1/courses/check", json=body | {"institution_id": gym.id},
                          headers=bearer(beijing))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = xuhui.client.post("/api/v1/courses/check",
                          json=body | {"institution_id": xuhui.sellers["school"].id},
                          headers=bearer(gym.key))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = xuhui.client.post("/api/v1/courses/check", json=body | {"sector": "boxing"},
                          headers=bearer(xuhui.regulator))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = xuhui.client.post("/api/v1/courses/check", json=body | {"institution_id": gym.id},
                          headers=bearer(gym.key))  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text


def test_a_course_check_refuses_a_region_other_than_the_institutions(xuhui: Xuhui) -> None:
    """A `region_code` beside an institution (a regulator's `institution_id`, or the calling
    institution) must be that institution's region: another is refused with 422
    `region_conflict`, where before the regulator's region silently won over the institution's
    and the institution's was silently ignored; its own region is judged as without it."""
    body = factories.course_body("2026-10-12", n=10, category="non_subject", subject="fitness",
                                 price_per_lesson="300.00")  # fmt: skip
    gym = xuhui.sellers["gym"]
    for token, extra in ((xuhui.regulator, {"institution_id": gym.id}), (gym.key, {})):
        r = xuhui.client.post("/api/v1/courses/check", headers=bearer(token),
                              json=body | extra | {"region_code": "310115"})  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (422, "region_conflict"), r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (r.json()["region_code"], r.json()["institution_region_code"]) == ("310115", XUHUI)
        r = xuhui.client.post("/api/v1/courses/check", headers=bearer(token),
                              json=body | extra | {"region_code": XUHUI})  # fmt: skip
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    # A regulator naming no institution judges in any region of theirs, as before.
    r = xuhui.client.post("/api/v1/courses/check", headers=bearer(xuhui.regulator),
                          json=body | {"region_code": "310115"})  # fmt: skip
    assert r.status_code == 200, r.text


def test_an_unpaid_order_lapses_and_holds_no_room(xuhui: Xuhui) -> None:
    """Under a pack that caps what one consumer holds, an order not paid within the pack's
    `unpaid_order_expiry` (7 days by default, the project's own rule) lapses at its `pay_by`: from then it holds no room under the
    per-consumer cap, a late payment for it goes to suspense, and the `unpaid_order_expiry` job
    cancels it. Before its pay_by it holds its room."""
    from datetime import timedelta

    student = f"lapse-{next(_refs)}"
    school = xuhui.enroll("school", student, 10, "3000.00")  # no per-consumer cap: no lapse
    assert school.status_code == 201 and school.json().get("pay_by") is None, school.text
    first = xuhui.enroll("gym", student, 60, "18000.00")
    assert first.status_code == 201, first.text
    made = first.json()
    # Another consumer's order, lapsing with no later order of theirs: the job's to cancel.
    alone = xuhui.enroll("gym", f"lapse-{next(_refs)}", 5, "1500.00").json()
    assert datetime.fromisoformat(made["pay_by"]) == xuhui.clock.now + timedelta(days=7)
    assert xuhui.enroll("gym", student, 10, "3000.00").status_code == 409  # 21,000 > 20,000
    xuhui.clock.now += timedelta(days=7) - timedelta(seconds=1)
    assert xuhui.enroll("gym", student, 10, "3000.00").status_code == 409  # not lapsed yet
    xuhui.clock.now += timedelta(seconds=1)  # at its pay_by: lapsed
    assert xuhui.held("gym", student, at=xuhui.clock.now) == Decimal(0)
    second = xuhui.enroll("gym", student, 60, "18000.00")
    assert second.status_code == 201, second.text
    # The lapsed order takes no payment: its room is the second order's now.
    late = xuhui.signed("POST", "/api/v1/bank/deposits", {
        "bank_txn_id": f"L{made['id'][-16:]}", "account_no": xuhui.sellers["gym"].escrow,
        "payment_reference": made["payment_reference"], "amount": made["amount_due"],
        "paid_at": xuhui.clock.now.isoformat()})  # fmt: skip
    assert late.status_code == 202, late.text
    assert late.json()["status"] == "suspense" and late.json()["reason"] == "amount_mismatch"
    # The second order cancelled it (it took its room); the job cancels what lapsed with no
    # later order (the regulator's run, for their region); the second stands.
    run = xuhui.client.post("/api/v1/jobs/unpaid_order_expiry/run", json={},
                            headers=bearer(xuhui.regulator))  # fmt: skip
    assert run.status_code == 200, run.text
    assert run.json()["orders_lapsed"] >= 1
    gym = bearer(xuhui.sellers["gym"].key)
    assert xuhui.client.get(f"/api/v1/enrollments/{alone['id']}", headers=gym).json()[
        "status"] == "cancelled"  # fmt: skip
    assert xuhui.client.get(f"/api/v1/enrollments/{made['id']}", headers=gym).json()[
        "status"] == "cancelled"  # fmt: skip
    assert xuhui.client.get(f"/api/v1/enrollments/{second.json()['id']}", headers=gym).json()[
        "status"] == "awaiting_payment"  # fmt: skip
    xuhui.pay("gym", second.json())
    assert xuhui.held("gym", student) == Decimal("18000.00")


def test_a_deposit_written_after_a_later_order_took_the_room_does_not_pay(
    xuhui: Xuhui,
) -> None:
    """A deposit is written by a transaction that may commit after an order judged past the
    first order's pay_by (a batch under way at the lapse, or a replayed morning whose deposits
    carry their own earlier clocks): that order took the room the lapsed one held, so the
    deposit must not pay it too and take the consumer over the cap. The later order cancels
    the lapsed one under its row lock; the deposit then finds it cancelled: suspense, the
    money kept to be returned, the cap held."""
    from datetime import timedelta

    from service.flows import deposits
    from service.registry.models import Bank

    student = f"race-{next(_refs)}"
    first = xuhui.enroll("gym", student, 60, "18000.00").json()
    pay_by = datetime.fromisoformat(first["pay_by"])
    xuhui.clock.now = pay_by + timedelta(minutes=5)
    assert xuhui.enroll("gym", student, 60, "18000.00").status_code == 201  # the room freed
    item = deposits.DepositIn(
        bank_txn_id=f"R{first['id'][-16:]}", account_no=xuhui.sellers["gym"].escrow,
        payment_reference=first["payment_reference"], amount=Decimal(first["amount_due"]),
        paid_at=pay_by - timedelta(seconds=1),
    )  # fmt: skip

    def work(s: Any) -> list[deposits.Outcome]:
        bank = s.get(Bank, xuhui.bank.id)
        return deposits.receive_many(s, bank=bank, items=[item], now=xuhui.clock.now,
                                     received=[pay_by - timedelta(seconds=1)])  # fmt: skip

    out = run_in_transaction(make_sessionmaker(xuhui.engine), work)[0]
    assert getattr(out, "status", None) == "suspense", out
    assert xuhui.held("gym", student, at=xuhui.clock.now) <= CAP


def test_a_payment_made_in_time_and_reported_late_pays_an_order_still_awaiting_it(
    xuhui: Xuhui,
) -> None:
    """Lapsed is judged at the parent's payment (the deposit's `paid_at`), not at the bank's
    late report of it: an order still awaiting payment kept its room (no later order of the
    consumer and no job run cancelled it), so a payment made before pay_by pays it. A payment
    made after pay_by does not, however it is reported."""
    from datetime import timedelta

    def deposit(e: dict[str, Any], paid_at: datetime) -> Any:
        return xuhui.signed("POST", "/api/v1/bank/deposits", {
            "bank_txn_id": f"P{e['id'][-16:]}", "account_no": xuhui.sellers["gym"].escrow,
            "payment_reference": e["payment_reference"], "amount": e["amount_due"],
            "paid_at": paid_at.isoformat()})  # fmt: skip

    on_time = xuhui.enroll("gym", f"late-report-{next(_refs)}", 10, "3000.00").json()
    too_late = xuhui.enroll("gym", f"late-report-{next(_refs)}", 10, "3000.00").json()
    pay_by = datetime.fromisoformat(on_time["pay_by"])
    xuhui.clock.now = pay_by + timedelta(hours=3)  # the bank reports after the lapse
    r = deposit(on_time, pay_by - timedelta(minutes=1))
    assert r.status_code == 201 and r.json()["status"] == "posted", r.text
    r = deposit(too_late, datetime.fromisoformat(too_late["pay_by"]) + timedelta(minutes=1))
    assert r.status_code == 202 and r.json()["reason"] == "amount_mismatch", r.text
    gym = bearer(xuhui.sellers["gym"].key)
    got = xuhui.client.get(f"/api/v1/enrollments/{on_time['id']}", headers=gym).json()
    assert got["status"] != "awaiting_payment" and got["status"] != "cancelled", got


def test_the_unpaid_order_expiry_rule_has_bounds_and_says_whose_it_is() -> None:
    """The rule is typed with bounds (1 to 30 days or working days) and its default cites the
    project, not a text, saying so."""
    from service.policy import rules

    assert rules.DEFAULT_VALUES.unpaid_order_expiry.days == 7
    for bad in ({"days": 0}, {"days": 31}, {"working_days": 0}, {"days": 3, "working_days": 3}):
        with pytest.raises(rules.InvalidRule):
            rules.check_value("unpaid_order_expiry", bad)
    assert rules.check_value("unpaid_order_expiry", {"working_days": 5}).working_days == 5
    cited = rules.root(on=datetime(2026, 10, 1).date()).cited["unpaid_order_expiry"]
    assert cited.source.note is not None and "project's own choice" in cited.source.note
