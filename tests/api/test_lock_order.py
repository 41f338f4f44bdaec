"""Every use case takes its locks in one order (business rows, the ledger, the day's counters
last), so concurrent requests for one institution never deadlock. Found by the chaos soak: a
refund paid and a lesson reported took the institution's day counters before the ledger, a
deposit took them after, and PostgreSQL broke the cycles by failing requests (241 deadlocks in
120 s, each a 500)."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from tests import factories
from tests.api.conftest import bearer
from tests.api.school import School
from tests.live import Work, at_once, serving

ROUNDS = 12
REGION = "220106"  # 绿园区, used by no other test


def lessons(school: School, enrollment_id: str) -> Work:
    return lambda c: (("lesson", school.report(c, enrollment_id)) for _ in range(ROUNDS))


def test_lessons_deposits_and_refunds_paid_of_one_institution_at_once_never_fail(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings, engine=engine)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        school = School.register(c, engine)
        taught = [school.enroll_and_pay(c, lessons=20) for _ in range(2)]
        for _ in range(2 * ROUNDS):
            school.refund_accepted(c, school.paid(c, lessons=2))
        refunds = school.pending_refunds(c)
        assert len(refunds) == 2 * ROUNDS

        def pay(own: httpx.Client) -> Iterable[tuple[str, httpx.Response]]:
            return (
                ("deposit", school.pay(own, school.enroll(own, lessons=2))) for _ in range(ROUNDS)
            )

        def paid(share: list[str]) -> Work:
            return lambda own: (("refund paid", school.execute(own, i)) for i in share)

        answers = at_once(base, [lessons(school, e) for e in taught] + [pay, pay]
                          + [paid(refunds[i::2]) for i in range(2)])  # fmt: skip
    failed = [a for a in answers if a[1] not in (200, 201)]
    assert failed == [] and len(answers) == 6 * ROUNDS, failed


def test_refunds_escalated_while_the_school_answers_them_never_fail(
    engine: Engine, settings: Settings
) -> None:
    """The escalation job accepts every overdue refund in one transaction while the school
    answers the same refunds, newest first, and reports lessons: each answer is 200 or 409
    (the job got there first), never a deadlock."""
    app = create_app(settings, engine=engine)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        # A district of its own, whose refunds are overdue at once (the database is shared
        # with the tests that run after this one: the setting goes when the test ends).
        school = School.register(c, engine, region=REGION)
        factories.pack_override(engine, REGION, {"refund_answer_deadline": {"days": 0}})
        try:
            answers = escalate_while_answered(base, c, school)
            left = school.pending_refunds(c)
        finally:
            factories.drop_pack_overrides(engine, REGION)
    failed = [a for a in answers if a[1] not in (200, 201, 409)]
    assert failed == [] and len(answers) == 3 + 3 * ROUNDS + ROUNDS, failed
    assert len(left) == 3 * ROUNDS  # every refund instructed once, by the job or the school


def escalate_while_answered(base: str, c: httpx.Client, school: School) -> list[tuple[str, int]]:
    """Overdue refunds; then at once: the escalation job three times, the school accepting the
    same refunds newest first (two clients), and lessons reported."""
    taught = school.enroll_and_pay(c, lessons=20)
    refunds = [school.refund_requested(c, school.paid(c, lessons=2)) for _ in range(3 * ROUNDS)]
    newest_first = refunds[::-1]

    def escalate(own: httpx.Client) -> Iterable[tuple[str, httpx.Response]]:
        path = "/api/v1/jobs/refund_escalation/run"
        return (("escalation", own.post(path, headers=bearer(school.regulator), json={}))
                for _ in range(3))  # fmt: skip

    def answer(share: list[str]) -> Work:
        return lambda own: (("answer", school.accept(own, r)) for r in share)

    return at_once(base, [escalate, lessons(school, taught)]
                   + [answer(newest_first[i::2]) for i in range(2)])  # fmt: skip
