"""A lesson's date cannot drain escrow past the parent's window (issue: holes, item 2), on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from service.kit.clock import SHANGHAI
from tests.api.conftest import bearer
from tests.api.test_flows import START, World
from tests.api.test_plumbing import assert_problem


def paid(w: World, lessons: int = 4) -> dict:
    e = w.enroll(lessons=lessons, amount=f"{20 * lessons}.00")
    assert w.pay(e).status_code == 201
    return e


def test_a_lesson_dated_before_the_payment_is_refused_and_changes_nothing(world: World) -> None:
    e = paid(world)
    before = world.balances()
    back = datetime(2019, 3, 4, 18, 0, tzinfo=SHANGHAI)
    assert_problem(world.consume(e["id"], 4, at=back), 422, "occurred_before_payment")
    a_minute = world.clock.now - timedelta(minutes=1)
    assert_problem(world.consume(e["id"], 1, at=a_minute), 422, "occurred_before_payment")
    assert world.balances() == before
    parent = world.parent(e)
    assert world.client.get("/api/v1/parent/consumptions", headers=parent).json()["items"] == []
    r = world.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "x"})
    assert r.status_code == 201 and r.json()["amount"] == "80.00"


def test_the_window_runs_from_the_report_not_the_date_claimed(world: World) -> None:
    """Paid at START, reported ten days later as held on START + 1h: the parent still has the
    whole window, and the release a day later leaves it alone."""
    e = paid(world)
    held = START + timedelta(hours=1)
    world.clock.now = START + timedelta(days=10)
    c = world.consume(e["id"], 1, at=held)
    assert c.status_code == 201, c.text
    parent = world.parent(e)
    (lesson,) = world.client.get("/api/v1/parent/consumptions", headers=parent).json()["items"]
    assert datetime.fromisoformat(lesson["confirm_until"]) == world.clock.now + timedelta(days=7)
    assert lesson["status"] == "pending"
    world.job("release_batch", world.clock.now + timedelta(days=1))
    assert [i for i in world.pending() if i["kind"] == "release"] == []
    parent = world.parent(e)
    r = world.client.post(
        f"/api/v1/parent/consumptions/{lesson['id']}/dispute",
        headers=parent,
        json={"reason": "no lesson that day"},
    )
    assert r.status_code == 200 and r.json()["status"] == "disputed"


def test_a_lesson_claimed_before_its_session_is_accepted_and_signalled(world: World) -> None:
    """The course's first session is at 16:00 on START's day. Two lessons claimed at 17:00
    (one session started by then) are accepted, marked off the timetable for the parent, and
    shown to the regulator as consumption_pace with the lesson as evidence."""
    e = paid(world)
    world.clock.now = START + timedelta(hours=8)
    c = world.consume(e["id"], 2)
    assert c.status_code == 201, c.text
    parent = world.parent(e)
    (lesson,) = world.client.get("/api/v1/parent/consumptions", headers=parent).json()["items"]
    assert lesson["off_timetable"] is True
    out = world.client.post("/api/v1/risk/sweeps", headers=bearer(world.reg), json={}).json()
    assert out["institutions_evaluated"] >= 1
    risk = world.client.get(f"/api/v1/institutions/{world.inst_id}", headers=bearer(world.reg))
    pace = next(i for i in risk.json()["risk"]["indicators"] if i["code"] == "consumption_pace")
    assert c.json()["id"] in pace["evidence"]


def test_a_lesson_on_time_is_not_flagged(world: World) -> None:
    e = paid(world)
    world.clock.now = START + timedelta(hours=8)  # 17:00, after the 16:00 session
    assert world.consume(e["id"], 1).status_code == 201
    parent = world.parent(e)
    (lesson,) = world.client.get("/api/v1/parent/consumptions", headers=parent).json()["items"]
    assert lesson["off_timetable"] is False
