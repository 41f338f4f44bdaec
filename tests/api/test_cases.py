"""The case work of a supervision office through the API (issue: workbench, alerts): claim,
assign, snooze (reopening by itself), escalate, close with an outcome; evidence appended to the
one open case; every step on the audit log, which a regulator reads for their region only."""

from __future__ import annotations

from datetime import timedelta

from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import START, World
from tests.api.test_plumbing import assert_problem
from tests.api.test_risk import my_alerts, request_refund, sweep


def open_case(w: World) -> dict:
    w.clock.now = START + timedelta(hours=1)
    request_refund(w)
    sweep(w, START + timedelta(days=6))
    (case,) = my_alerts(w, "open")
    return case


def post(w: World, path: str, token: str, **body):
    return w.client.post(f"/api/v1/risk/alerts/{path}", headers=bearer(token), json=body)


def test_a_case_is_claimed_snoozed_reopened_escalated_and_closed(world: World, engine) -> None:
    case = open_case(world)
    _, city = factories.regulator(engine, "220100")
    claimed = post(world, f"{case['id']}/claim", world.reg).json()
    assert claimed["assignee_id"] is not None
    until = world.clock.now + timedelta(days=2)
    snoozed = post(world, f"{case['id']}/snooze", world.reg, until=until.isoformat(),
                   reason="the school promised to pay by Friday")  # fmt: skip
    assert snoozed.json()["status"] == "snoozed"
    world.job("alert_reopen", world.clock.now + timedelta(days=3))
    assert my_alerts(world, "open")[0]["id"] == case["id"]
    up = post(world, f"{case['id']}/escalate", city, reason="needs the city")
    assert up.status_code == 200 and up.json()["escalated_to"] == "220000"
    closed = post(world, f"{case['id']}/close", world.reg, outcome="rectified",
                  note="refund paid")  # fmt: skip
    assert closed.json()["status"] == "resolved" and closed.json()["outcome"] == "rectified"
    assert_problem(post(world, f"{case['id']}/claim", world.reg), 409, "alert_resolved")
    log = world.client.get(
        f"/api/v1/audit-events?institution_id={world.inst_id}&limit=50", headers=bearer(world.reg)
    ).json()["items"]
    actions = [e["action"] for e in log]
    for step in ("alert:claim", "alert:snooze", "alert:escalate", "alert:close"):
        assert step in actions, actions


def test_new_evidence_is_appended_to_the_open_case(world: World) -> None:
    case = open_case(world)
    request_refund(world)
    sweep(world, world.clock.now + timedelta(days=6))
    (again,) = my_alerts(world, "open")
    assert again["id"] == case["id"]
    overdue = next(i for i in again["indicators"] if i["code"] == "refund_overdue")
    assert len(overdue["evidence"]) == 2


def test_another_regions_regulator_neither_sees_nor_touches_the_case(world: World, engine) -> None:
    case = open_case(world)
    _, siping = factories.regulator(engine, "220300")
    assert_problem(post(world, f"{case['id']}/claim", siping), 404, "not_found")
    log = world.client.get("/api/v1/audit-events?limit=500", headers=bearer(siping)).json()
    assert all(e["institution_id"] != world.inst_id for e in log["items"])


def test_a_province_cannot_escalate(world: World, engine) -> None:
    case = open_case(world)
    assert_problem(post(world, f"{case['id']}/escalate", world.reg, reason="x"), 409,
                   "cannot_escalate")  # fmt: skip
