"""`Idempotency-Key` held against a hostile or broken caller (issue: holes, items 3 and 9), on
SQLite and PostgreSQL: keys belong to the authenticated caller only, failed authentication
stores nothing, the same key answers the same response (concurrently too, never a 500), and a
claim left by a request that died is taken over once its lease lapses."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, func, select

from service.app import create_app
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker, session_scope
from service.kit.request_keys import IdempotencyRecord
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem
from tests.live import serving


def records(engine: Engine, key: str) -> int:
    with session_scope(make_sessionmaker(engine)) as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
            )
            or 0
        )


def deposit(w: World, e: dict, txn: str) -> dict:
    return {
        "bank_txn_id": txn,
        "account_no": w.escrow,
        "payment_reference": e["payment_reference"],
        "amount": e["amount_due"],
        "paid_at": w.clock.now.isoformat(),
    }


def test_an_unsigned_request_cannot_take_a_banks_key(world: World, engine: Engine) -> None:
    """Before: the unsigned request stored its 401 under the bank's key, and the bank's real
    deposit with that key was then 409."""
    e = world.enroll(lessons=1, amount="20.00")
    raw = json.dumps(deposit(world, e, "IDEM-T1")).encode()
    key = f"bank-key-{e['id']}"
    forged = world.client.post(
        "/api/v1/bank/deposits",
        content=raw,
        headers={
            "content-type": "application/json",
            "Idempotency-Key": key,
            "X-Bank-Id": world.bank.id,
            "X-Timestamp": "1",
            "X-Signature": "00",
        },
    )
    assert_problem(forged, 401, "invalid_signature")
    assert records(engine, key) == 0
    real = world.client.post(
        "/api/v1/bank/deposits",
        content=raw,
        headers={
            **world.bank.headers("POST", "/api/v1/bank/deposits", raw),
            "content-type": "application/json",
            "Idempotency-Key": key,
        },
    )
    assert real.status_code == 201, real.text
    assert records(engine, key) == 1


@pytest.mark.parametrize("auth", [None, "Bearer tgr_forged"])
def test_failed_authentication_stores_nothing(client, engine: Engine, auth: str | None) -> None:
    key = f"anon-{auth}"
    headers = {"Idempotency-Key": key, **({"Authorization": auth} if auth else {})}
    for _ in range(2):
        r = client.post("/api/v1/institutions", json={"name": "x"}, headers=headers)
        assert_problem(r, 401, "unauthenticated")
    assert records(engine, key) == 0


def test_a_retry_right_after_the_answer_replays_it(world: World) -> None:
    """The response is stored before it is sent: a retry that follows it never sees 409."""
    body = {"course_id": world.course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"}
    for n in range(30):
        headers = {**bearer(world.key), "Idempotency-Key": f"seq-{world.inst_id}-{n}"}
        first = world.client.post("/api/v1/enrollments", headers=headers, json=body)
        again = world.client.post("/api/v1/enrollments", headers=headers, json=body)
        assert first.status_code == 201, first.text
        assert (again.status_code, again.content) == (201, first.content)


def test_a_claim_whose_request_died_is_taken_over(world: World, engine: Engine) -> None:
    """A claim left with its lease lapsed (its process was killed) does not block the key."""
    import hashlib

    body = {"course_id": world.course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"}
    key = f"dead-{world.inst_id}"
    caller = "auth:" + hashlib.sha256(world.key.encode()).hexdigest()[:40]
    raw = json.dumps(body).encode()
    digest = hashlib.sha256(b"POST\x1f/api/v1/enrollments\x1f" + raw).hexdigest()
    with session_scope(make_sessionmaker(engine)) as s:
        s.add(
            IdempotencyRecord(
                caller=caller,
                key=key,
                request_hash=digest,
                created_at=world.clock.now,
                claim="deadbeef",
                locked_until=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    headers = {**bearer(world.key), "Idempotency-Key": key, "content-type": "application/json"}
    r = world.client.post("/api/v1/enrollments", headers=headers, content=raw)
    assert r.status_code == 201, r.text
    again = world.client.post("/api/v1/enrollments", headers=headers, content=raw)
    assert again.content == r.content


def test_a_live_claim_makes_a_second_request_wait_then_409(
    world: World, engine: Engine, settings
) -> None:
    import hashlib

    body = {"course_id": world.course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"}
    raw = json.dumps(body).encode()
    key = f"live-{world.inst_id}"
    with session_scope(make_sessionmaker(engine)) as s:
        s.add(
            IdempotencyRecord(
                caller="auth:" + hashlib.sha256(world.key.encode()).hexdigest()[:40],
                key=key,
                request_hash=hashlib.sha256(b"POST\x1f/api/v1/enrollments\x1f" + raw).hexdigest(),
                created_at=world.clock.now,
                claim="alive",
                locked_until=datetime.now(UTC) + timedelta(minutes=5),
            )
        )
    headers = {**bearer(world.key), "Idempotency-Key": key, "content-type": "application/json"}
    started = datetime.now(UTC)
    r = world.client.post("/api/v1/enrollments", headers=headers, content=raw)
    assert_problem(r, 409, "idempotency_in_progress")
    assert datetime.now(UTC) - started >= timedelta(seconds=settings.idempotency_wait_seconds)


def test_ten_requests_at_once_with_one_key_get_one_answer(
    engine: Engine, settings, backend: str
) -> None:
    """Over real HTTP: every one of ten concurrent requests gets the first's 201 and body
    (before: 1×201, 7×409, 2×500), and exactly one enrollment is made."""
    bank = factories.bank(engine)
    inst_id, key = factories.institution(engine, bank.id)
    app = create_app(settings, engine=engine)
    with serving(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        course = c.post(
            "/api/v1/courses",
            headers=bearer(key),
            json=factories.course_body(local_date(datetime.now(UTC)).isoformat(), n=10),
        ).json()
        body = {"course_id": course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"}
        headers = {**bearer(key), "Idempotency-Key": f"burst-{inst_id}"}
        gate, answers = threading.Barrier(10), []

        def send() -> None:
            gate.wait()
            with httpx.Client(base_url=base, timeout=30) as own:
                r = own.post("/api/v1/enrollments", headers=headers, json=body)
                answers.append((r.status_code, r.content))

        threads = [threading.Thread(target=send) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert len(answers) == 10
    assert {a for a in answers} == {answers[0]} and answers[0][0] == 201, answers
    enrolled = c_count(engine, course["id"])
    assert enrolled == 1


def c_count(engine: Engine, course_id: str) -> int:
    from service.flows.models import Enrollment

    with session_scope(make_sessionmaker(engine)) as s:
        return int(s.scalar(select(func.count()).where(Enrollment.course_id == course_id)) or 0)


def test_an_answer_lost_after_the_commit_is_replayed_not_run_again(
    world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The enrollment commits; the process dies before the middleware keeps the answer (here:
    keeping it does nothing, and the lease lapses). The retry with the key must replay the
    first answer, not enrol the student twice: the answer was kept with the effects, in the
    request's own transaction."""
    from service.api.idempotency import IdempotencyMiddleware

    monkeypatch.setattr(IdempotencyMiddleware, "_finish", lambda *a, **k: None)
    monkeypatch.setattr(IdempotencyMiddleware, "_release", lambda *a, **k: None)
    body = {"course_id": world.course["id"], "student_ref": "lost", "lessons": 1,
            "amount": "20.00"}  # fmt: skip
    headers = {**bearer(world.key), "Idempotency-Key": f"lost-{world.inst_id}"}
    first = world.client.post("/api/v1/enrollments", headers=headers, json=body)
    assert first.status_code == 201, first.text
    with session_scope(make_sessionmaker(engine)) as s:  # as if the claim's process died
        s.execute(
            IdempotencyRecord.__table__.update()
            .where(IdempotencyRecord.key == f"lost-{world.inst_id}")
            .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    again = world.client.post("/api/v1/enrollments", headers=headers, json=body)
    assert (again.status_code, again.content) == (201, first.content)
    assert again.headers.get("idempotent-replayed") == "true"
    listed = world.client.get(
        f"/api/v1/enrollments/{first.json()['id']}", headers=bearer(world.key)
    )
    assert listed.status_code == 200
    with session_scope(make_sessionmaker(engine)) as s:
        from service.flows.models import Enrollment

        n = s.scalar(
            select(func.count()).select_from(Enrollment).where(Enrollment.student_ref == "lost",
                                                               Enrollment.institution_id == world.inst_id)
        )  # fmt: skip
    assert n == 1
