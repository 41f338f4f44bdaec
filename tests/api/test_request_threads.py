"""More requests at once than the service has worker threads, all waiting on one row: the
request that holds the row must still commit (its commit never queues behind the requests it
keeps waiting). Found by the chaos soak: 64 clients against 40 threads stalled every request
for good."""

from __future__ import annotations

import threading
from typing import Any

import httpx
from sqlalchemy import Engine, select

from service.app import create_app
from service.config import Settings
from service.flows.models import Enrollment
from service.kit.db import make_sessionmaker, session_scope
from tests.api.school import School
from tests.live import serving

THREADS = 2
REPORTS = 8


def test_requests_beyond_the_worker_threads_on_one_row_all_complete(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"request_threads": THREADS}), engine=engine)
    answers: list[Any] = []
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        school = School.register(c, engine)
        enrollment_id = school.enroll_and_pay(c, lessons=20)
        gate = threading.Barrier(REPORTS)

        def report(i: int) -> None:
            gate.wait()
            key = {"Idempotency-Key": f"lesson-{i}"} if i % 2 else {}
            with httpx.Client(base_url=base, timeout=20) as own:
                try:
                    answers.append(school.report(own, enrollment_id, **key).status_code)
                except httpx.TimeoutException:
                    answers.append("timed out")

        threads = [threading.Thread(target=report, args=(i,)) for i in range(REPORTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert answers == [201] * REPORTS
    with session_scope(make_sessionmaker(engine)) as s:
        used = s.scalar(select(Enrollment.lessons_consumed).where(Enrollment.id == enrollment_id))
    assert used == REPORTS
