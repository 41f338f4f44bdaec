"""Every use case takes its locks in one order (business rows, the ledger, the day's counters
last), so concurrent requests for one institution never deadlock. Found by the chaos soak: a
refund paid and a lesson reported took the institution's day counters before the ledger, a
deposit took them after, and PostgreSQL broke the cycles by failing requests (241 deadlocks in
120 s, each a 500)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, delete

from service.app import create_app
from service.config import Settings
from service.kit.db import make_sessionmaker, session_scope
from service.registry.models import RegionSetting
from tests.api.conftest import bearer
from tests.api.school import School
from tests.live import serving

ROUNDS = 12
REGION = "220106"  # 绿园区, used by no other test


def test_lessons_deposits_and_refunds_paid_of_one_institution_at_once_never_fail(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings, engine=engine)
    answers: list[tuple[str, Any]] = []
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        school = School.register(c, engine)
        reported = [school.enroll_and_pay(c, lessons=20) for _ in range(2)]
        for _ in range(2 * ROUNDS):
            school.refund_accepted(c, school.paid(c, lessons=2))
        refunds = school.pending_refunds(c)
        assert len(refunds) == 2 * ROUNDS
        gate = threading.Barrier(6)

        def report(enrollment_id: str) -> None:
            gate.wait()
            with httpx.Client(base_url=base, timeout=30) as own:
                for _ in range(ROUNDS):
                    r = own.post(
                        f"/api/v1/enrollments/{enrollment_id}/consumptions",
                        headers=bearer(school.key),
                        json={"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()},
                    )
                    answers.append(("lesson", r.status_code))

        def pay() -> None:
            gate.wait()
            with httpx.Client(base_url=base, timeout=30) as own:
                for _ in range(ROUNDS):
                    e = school.enroll(own, lessons=2)
                    r = school.pay(own, e)
                    answers.append(("deposit", r.status_code))

        def refund(share: list[str]) -> None:
            gate.wait()
            with httpx.Client(base_url=base, timeout=30) as own:
                for instruction_id in share:
                    answers.append(("refund paid", school.execute(own, instruction_id).status_code))

        threads = [threading.Thread(target=report, args=(e,)) for e in reported]
        threads += [threading.Thread(target=pay) for _ in range(2)]
        threads += [threading.Thread(target=refund, args=(refunds[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    failed = [a for a in answers if a[1] not in (200, 201)]
    assert failed == [] and len(answers) == 6 * ROUNDS, failed


def test_refunds_escalated_while_the_school_answers_them_never_fail(
    engine: Engine, settings: Settings
) -> None:
    """The escalation job accepts every overdue refund in one transaction while the school
    answers the same refunds, newest first, and reports lessons: each answer is 200 or 409
    (the job got there first), never a deadlock."""
    app = create_app(settings, engine=engine)
    answers: list[tuple[str, int]] = []
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        # A district of its own, whose refunds are overdue at once (the database is shared
        # with the tests that run after this one: the setting goes when the test ends).
        school = School.register(c, engine, region=REGION)
        with session_scope(make_sessionmaker(engine)) as s:
            s.add(RegionSetting(region_code=REGION, key="refund_respond_days", value=0,
                                effective_from=date(2000, 1, 1), updated_at=datetime.now(UTC)))  # fmt: skip
        try:
            escalate_while_answered(base, c, school, answers)
            left = school.pending_refunds(c)
        finally:
            with session_scope(make_sessionmaker(engine)) as s:
                s.execute(delete(RegionSetting).where(RegionSetting.region_code == REGION))
    failed = [a for a in answers if a[1] not in (200, 201, 409)]
    assert failed == [] and len(answers) == 3 + 3 * ROUNDS + ROUNDS, failed
    assert len(left) == 3 * ROUNDS  # every refund instructed once, by the job or the school


def escalate_while_answered(
    base: str, c: httpx.Client, school: School, answers: list[tuple[str, int]]
) -> None:
    """Overdue refunds; then at once: the escalation job three times, the school accepting the
    same refunds newest first (two clients), and lessons reported."""
    taught = school.enroll_and_pay(c, lessons=20)
    refunds = [school.refund_requested(c, school.paid(c, lessons=2)) for _ in range(3 * ROUNDS)]
    gate = threading.Barrier(4)

    def escalate() -> None:
        gate.wait()
        with httpx.Client(base_url=base, timeout=30) as own:
            for _ in range(3):
                r = own.post("/api/v1/jobs/refund_escalation/run",
                             headers=bearer(school.regulator), json={})  # fmt: skip
                answers.append(("escalation", r.status_code))

    def answer(share: list[str]) -> None:
        gate.wait()
        with httpx.Client(base_url=base, timeout=30) as own:
            for refund_id in share:
                answers.append(("answer", school.accept(own, refund_id).status_code))

    def report() -> None:
        gate.wait()
        with httpx.Client(base_url=base, timeout=30) as own:
            for _ in range(ROUNDS):
                r = own.post(
                    f"/api/v1/enrollments/{taught}/consumptions",
                    headers=bearer(school.key),
                    json={"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()},
                )
                answers.append(("lesson", r.status_code))

    newest_first = refunds[::-1]
    threads = [threading.Thread(target=escalate), threading.Thread(target=report)]
    threads += [threading.Thread(target=answer, args=(newest_first[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
