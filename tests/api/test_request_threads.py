"""More requests at once than the service has worker threads, all waiting on one row: the
request that holds the row must still commit (its commit never queues behind the requests it
keeps waiting). Found by the chaos soak: 64 clients against 40 threads stalled every request
for good."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine, select

from service.app import create_app
from service.config import Settings
from service.flows.models import Enrollment
from service.kit.db import make_sessionmaker, session_scope
from tests import factories
from tests.api.conftest import bearer
from tests.live import serving

THREADS = 2
REPORTS = 8


def paid_enrollment(c: httpx.Client, engine: Engine) -> tuple[str, str]:
    """An institution's key and a paid enrollment of 20 lessons, over HTTP."""
    bank = factories.bank(engine)
    body = factories.institution_body(bank.id)
    _, reg = factories.regulator(engine, "220000")
    inst = c.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
    key = inst["api_key"]
    course = c.post("/api/v1/courses", json=factories.course_body(n=40), headers=bearer(key)).json()
    enrollment = c.post(
        "/api/v1/enrollments",
        headers=bearer(key),
        json={"course_id": course["id"], "student_ref": "s", "lessons": 20, "amount": "400.00"},
    ).json()
    deposit = {
        "bank_txn_id": f"T{enrollment['id'][-12:]}",
        "account_no": body["escrow_account_no"],
        "payment_reference": enrollment["payment_reference"],
        "amount": enrollment["amount_due"],
        "paid_at": datetime.now(UTC).isoformat(),
    }
    raw = json.dumps(deposit).encode()
    path = "/api/v1/bank/deposits"
    headers = {**bank.headers("POST", path, raw), "content-type": "application/json"}
    assert c.post(path, content=raw, headers=headers).status_code == 201
    return key, enrollment["id"]


def test_requests_beyond_the_worker_threads_on_one_row_all_complete(
    engine: Engine, settings: Settings
) -> None:
    app = create_app(settings.model_copy(update={"request_threads": THREADS}), engine=engine)
    answers: list[Any] = []
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        key, enrollment_id = paid_enrollment(c, engine)
        gate = threading.Barrier(REPORTS)

        def report(i: int) -> None:
            gate.wait()
            headers = {**bearer(key), "Idempotency-Key": f"lesson-{i}"} if i % 2 else bearer(key)
            with httpx.Client(base_url=base, timeout=20) as own:
                try:
                    r = own.post(
                        f"/api/v1/enrollments/{enrollment_id}/consumptions",
                        headers=headers,
                        json={"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()},
                    )
                    answers.append(r.status_code)
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
