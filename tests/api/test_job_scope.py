"""Who may run a job, over what scope, with what clock (issue: holes, item 1). On SQLite and
PostgreSQL, with the service's clock under the test's control."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import START, World
from tests.api.test_plumbing import assert_problem

JOBS = [
    "refund_escalation",
    "release_batch",
    "risk_sweep",
    "statement_missing",
    "instruction_delivery",
    "hold_expiry",
    "idempotency_purge",
]


def run(w: World, name: str, token: str, **body: object):
    return w.client.post(f"/api/v1/jobs/{name}/run", headers=bearer(token), json=body)


def lesson_past_its_window(w: World) -> dict:
    """A paid enrollment with one lesson reported at START + 8h; its window ends 7 days on."""
    e = w.enroll(lessons=2, amount="40.00")
    w.pay(e)
    w.clock.now = START + timedelta(hours=8)
    c = w.consume(e["id"], 1)
    assert c.status_code == 201, c.text
    return e


def test_another_regions_regulator_moves_nothing(world: World, engine) -> None:
    """The Chaoyang district's regulator runs release_batch and refund_escalation: nothing of
    Nanguan's institution is released or accepted; Nanguan's own regulator's run is."""
    e = lesson_past_its_window(world)
    refund = world.client.post(
        "/api/v1/parent/refunds", headers=world.parent(e), json={"reason": "moving", "lessons": 1}
    ).json()
    _, chaoyang = factories.regulator(engine, "220104")
    _, nanguan = factories.regulator(engine, "220102")
    world.clock.now = START + timedelta(days=9)
    out = run(world, "release_batch", chaoyang).json()
    assert out["instructions"] == 0, out
    assert run(world, "refund_escalation", chaoyang).json()["refunds_accepted"] == 0
    assert world.pending() == []
    sweep = world.client.post("/api/v1/risk/sweeps", headers=bearer(chaoyang), json={}).json()
    assert sweep["institutions_evaluated"] == 0
    # (Other tests' institutions share the district; count only this one's instructions.)
    assert run(world, "release_batch", nanguan).json()["instructions"] >= 1
    assert run(world, "refund_escalation", nanguan).json()["refunds_accepted"] >= 1
    kinds = sorted(i["kind"] for i in world.pending())
    assert kinds == ["refund", "release"]
    view = world.client.get("/api/v1/refunds?status=instructed&limit=500", headers=bearer(nanguan))
    assert refund["id"] in [r["id"] for r in view.json()["items"]]


@pytest.mark.parametrize("name", JOBS)
def test_a_future_as_of_is_refused_for_every_job(world: World, name: str) -> None:
    lesson_past_its_window(world)
    future = world.clock.now + timedelta(days=30)
    r = run(world, name, world.reg, as_of=future.isoformat())
    assert_problem(
        r,
        422 if name in JOBS[:5] else 403,
        "as_of_in_future" if name in JOBS[:5] else "job_not_regional",
    )
    assert world.pending() == []


def test_a_future_as_of_is_refused_for_a_sweep_and_a_small_skew_is_not(world: World) -> None:
    r = world.client.post(
        "/api/v1/risk/sweeps",
        headers=bearer(world.reg),
        json={"as_of": (world.clock.now + timedelta(days=1)).isoformat()},
    )
    assert_problem(r, 422, "as_of_in_future")
    r = world.client.post(
        "/api/v1/risk/sweeps",
        headers=bearer(world.reg),
        json={"as_of": (world.clock.now + timedelta(seconds=60)).isoformat()},
    )
    assert r.status_code == 200, r.text


def test_an_as_of_older_than_the_bound_is_refused(world: World) -> None:
    old = (world.clock.now - timedelta(days=32)).isoformat()
    assert_problem(run(world, "release_batch", world.reg, as_of=old), 422, "as_of_too_old")
    r = world.client.post("/api/v1/risk/sweeps", headers=bearer(world.reg), json={"as_of": old})
    assert_problem(r, 422, "as_of_too_old")


@pytest.mark.parametrize("name", ["hold_expiry", "idempotency_purge"])
def test_jobs_that_cannot_be_scoped_are_refused_to_a_regulator(world: World, name: str) -> None:
    assert_problem(run(world, name, world.reg), 403, "job_not_regional")


def test_a_past_as_of_releases_only_what_a_run_then_would_have(world: World) -> None:
    """At START + 9 days a re-run for START + 3 days releases nothing: the lesson's window was
    still open then. A run for now releases it, and the instruction is made now."""
    lesson_past_its_window(world)
    world.clock.now = START + timedelta(days=9)
    past = (START + timedelta(days=3)).isoformat()
    assert run(world, "release_batch", world.reg, as_of=past).status_code == 200
    assert world.pending() == []
    assert run(world, "release_batch", world.reg).json()["instructions"] >= 1
    (release,) = world.pending()
    assert datetime.fromisoformat(release["created_at"]) == world.clock.now


def test_an_escalation_is_recorded_when_it_happens(world: World) -> None:
    """A refund escalated by a re-run for a past instant is accepted at the real time, and a
    re-run for an instant before its respond_by accepts nothing."""
    e = lesson_past_its_window(world)
    parent = world.parent(e)
    refund = world.client.post(
        "/api/v1/parent/refunds", headers=parent, json={"reason": "moving"}
    ).json()
    world.clock.now = START + timedelta(days=7)
    before = (START + timedelta(days=4)).isoformat()
    assert run(world, "refund_escalation", world.reg, as_of=before).status_code == 200
    assert world.pending() == []
    after = (START + timedelta(days=6)).isoformat()
    assert run(world, "refund_escalation", world.reg, as_of=after).json()["refunds_accepted"] >= 1
    parent = world.parent(e)  # the first session expired after 12 hours
    timeline = world.client.get(f"/api/v1/parent/refunds/{refund['id']}", headers=parent).json()
    accepted = next(t for t in timeline["timeline"] if t["status"] == "accepted")
    assert datetime.fromisoformat(accepted["at"]) == world.clock.now


def test_an_idempotency_purge_cannot_be_pushed_into_the_future(world: World) -> None:
    """The purge with as_of = now + 8 days wiped every key, and a replayed key then made a
    second enrollment. A regulator cannot run it; the CLI refuses a future as_of too (below)."""
    body = {"course_id": world.course["id"], "student_ref": "s", "lessons": 1, "amount": "20.00"}
    headers = {**bearer(world.key), "Idempotency-Key": "enrol-1"}
    first = world.client.post("/api/v1/enrollments", headers=headers, json=body)
    future = (world.clock.now + timedelta(days=8)).isoformat()
    assert run(world, "idempotency_purge", world.reg, as_of=future).status_code == 403
    again = world.client.post("/api/v1/enrollments", headers=headers, json=body)
    assert again.json()["id"] == first.json()["id"]
