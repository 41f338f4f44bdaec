"""Planned closures (the risk issue: closure as an event), on SQLite and PostgreSQL: announced
by the institution or by a regulator of its region, then no new fees, refunds and wind-down
judged against the plan."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem


def _announce(w: World, effective: str) -> dict:
    r = w.client.post(
        "/api/v1/closure",
        headers=bearer(w.key),
        json={"effective": effective, "reason": "the lease ends"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_an_institution_announces_its_closure_and_collects_no_new_fees(world: World) -> None:
    e = world.enroll(lessons=4, amount="80.00")
    assert world.pay(e).status_code == 201
    body = _announce(world, "2026-12-31")
    assert body["closing_on"] == "2026-12-31"
    r = world.client.post(
        "/api/v1/enrollments",
        headers=bearer(world.key),
        json={"course_id": world.course["id"], "student_ref": "s2", "lessons": 4,
              "amount": "80.00"},
    )  # fmt: skip
    assert_problem(r, 409, "institution_closing")
    parent = world.parent(e)  # what was paid can still be refunded
    refund = world.client.post("/api/v1/parent/refunds", headers=parent, json={"reason": "x"})
    assert refund.status_code == 201 and refund.json()["amount"] == "80.00"
    accepted = world.client.post(
        f"/api/v1/refunds/{refund.json()['id']}/respond",
        headers=bearer(world.key),
        json={"decision": "accept", "reason": "closing"},
    )
    assert accepted.json()["status"] == "instructed"
    detail = world.client.get(f"/api/v1/institutions/{world.inst_id}", headers=bearer(world.reg))
    assert detail.json()["closing_on"] == "2026-12-31"


def test_a_second_notice_moves_the_day_and_both_are_audited(world: World) -> None:
    first = _announce(world, "2026-12-31")
    world.clock.now += timedelta(days=1)
    second = _announce(world, "2027-01-15")
    assert second["closing_on"] == "2027-01-15"
    same = datetime.fromisoformat(second["announced_at"])
    assert same == datetime.fromisoformat(first["announced_at"])
    log = world.client.get(
        "/api/v1/audit-events",
        headers=bearer(world.reg),
        params={"institution_id": world.inst_id, "action": "closure:announce"},
    ).json()["items"]
    assert [(i["detail"]["before"], i["detail"]["after"]) for i in log] == [
        ("2026-12-31", "2027-01-15"),
        (None, "2026-12-31"),
    ]


def test_a_closure_cannot_be_dated_in_the_past_and_a_refusal_changes_nothing(
    world: World,
) -> None:
    r = world.client.post(
        "/api/v1/closure",
        headers=bearer(world.key),
        json={"effective": "2026-11-01", "reason": "x"},
    )
    assert_problem(r, 422, "closure_in_past")
    detail = world.client.get(f"/api/v1/institutions/{world.inst_id}", headers=bearer(world.reg))
    assert detail.json()["closing_on"] is None
    world.enroll()  # still enrolling


def test_a_regulator_records_a_closure_in_their_region_only(world: World, engine: Engine) -> None:
    _, siping = factories.regulator(engine, "220300")
    path = f"/api/v1/institutions/{world.inst_id}/closure"
    body = {"effective": "2026-12-31", "reason": "the owner told us"}
    assert_problem(world.client.post(path, headers=bearer(siping), json=body), 404, "not_found")
    r = world.client.post(path, headers=bearer(world.reg), json=body)
    assert r.status_code == 200 and r.json()["closing_on"] == "2026-12-31"
    assert (
        world.client.post("/api/v1/closure", headers=bearer(world.key), json=body).json()[
            "closing_on"
        ]
        == "2026-12-31"
    )


def test_closure_bodies_are_strict(world: World) -> None:
    for bad in (
        {"effective": "2026-12-31"},
        {"effective": "31/12/2026", "reason": "x"},
        {"effective": "9999-12-31", "reason": "x"},
        {"effective": "2026-12-31", "reason": "x", "status": "closed"},
    ):
        r = world.client.post("/api/v1/closure", headers=bearer(world.key), json=bad)
        assert_problem(r, 422, "validation_error")
