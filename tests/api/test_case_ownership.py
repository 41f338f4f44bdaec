"""Who acts on a case and for how long it sleeps, on SQLite and PostgreSQL, through the API and
the workbench (issue 31 finding 8): an escalated case belongs to the office above (the office
that sent it up reads it, and acts on it no more); a snooze is bounded by a regional rule
(`case_snooze_max_days`, 30 by default); a snooze ends on its day whatever the case's level."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service.kit.db import make_sessionmaker
from service.registry.models import AuditEvent
from service.risk.models import Alert
from tests import factories
from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_cases import open_case, post
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem
from tests.api.test_risk import sweep
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.api.told import told


def _status(engine, alert_id: str) -> str:
    with make_sessionmaker(engine)() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        return alert.status


def test_an_escalated_case_belongs_to_the_office_above(world: World, engine) -> None:
    case = open_case(world)
    _, city = factories.regulator(engine, "220100")
    up = post(world, f"{case['id']}/escalate", city, reason="beyond the city")
    assert up.status_code == 200 and up.json()["escalated_to"] == "220000"
    later = (world.clock.now + timedelta(days=2)).isoformat()
    assignee, _ = factories.regulator(engine, "220100")
    for path, body in [
        ("close", {"outcome": "rectified", "note": "closed before the province looked"}),
        ("snooze", {"until": later, "reason": "x"}),
        ("acknowledge", {"note": "x"}),
        ("resolve", {"note": "x"}),
        ("claim", {}),
        ("assign", {"assignee_id": assignee}),
        ("escalate", {"reason": "again"}),
    ]:
        assert_problem(post(world, f"{case['id']}/{path}", city, **body), 409, "case_escalated")
    seen = world.client.get("/api/v1/risk/alerts?limit=500", headers=bearer(city)).json()
    assert case["id"] in [a["id"] for a in seen["items"]]  # the city still reads it
    assert _status(engine, case["id"]) == "open"
    done = post(world, f"{case['id']}/close", world.reg, outcome="handled", note="province")
    assert done.status_code == 200 and done.json()["status"] == "resolved"


def test_a_snooze_is_bounded_by_the_regional_rule(world: World, engine) -> None:
    case = open_case(world)
    now = world.clock.now
    far = post(world, f"{case['id']}/snooze", world.reg, until="9999-12-31T00:00:00+08:00",
               reason="never")  # fmt: skip
    assert far.status_code == 422
    month = post(world, f"{case['id']}/snooze", world.reg,
                 until=(now + timedelta(days=31)).isoformat(), reason="x")  # fmt: skip
    assert_problem(month, 422, "snooze_too_long")
    rule = world.client.post("/api/v1/region-settings", headers=bearer(world.reg),
                             json={"region_code": "220102", "key": "case_snooze_max_days",
                                   "value": 10, "reason": "cases here are urgent"})  # fmt: skip
    assert rule.status_code == 202, rule.text  # a rule pack change: four eyes
    through(world.client, engine, rule)
    eleven = post(world, f"{case['id']}/snooze", world.reg,
                  until=(now + timedelta(days=11)).isoformat(), reason="x")  # fmt: skip
    assert_problem(eleven, 422, "snooze_too_long")
    assert _status(engine, case["id"]) == "open"
    ten = post(world, f"{case['id']}/snooze", world.reg,
               until=(now + timedelta(days=10)).isoformat(), reason="x")  # fmt: skip
    assert ten.status_code == 200 and ten.json()["status"] == "snoozed"


def _make_critical(engine, alert_id: str) -> None:
    with make_sessionmaker(engine).begin() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None
        alert.level, alert.score = "critical", 90


def test_a_snoozed_critical_case_reopens_on_its_day(world: World, engine) -> None:
    """A critical case cannot rise, so the sweep's "worse: look again" never woke it: the
    snooze now ends on its day, by the sweep or the alert_reopen job, whichever runs first."""
    case = open_case(world)
    _make_critical(engine, case["id"])
    until = world.clock.now + timedelta(days=2)
    r = post(world, f"{case['id']}/snooze", world.reg, until=until.isoformat(), reason="x")
    assert r.status_code == 200, r.text
    sweep(world, until + timedelta(hours=1))
    assert _status(engine, case["id"]) == "open"
    until = world.clock.now + timedelta(days=2)
    r = post(world, f"{case['id']}/snooze", world.reg, until=until.isoformat(), reason="y")
    assert r.status_code == 200, r.text
    world.job("alert_reopen", until + timedelta(minutes=1))
    assert _status(engine, case["id"]) == "open"
    with make_sessionmaker(engine)() as s:
        woke = s.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.subject == case["id"], AuditEvent.action == "alert:reopen"
            )
        ).all()
    assert sorted(woke) == ["job:alert_reopen", "risk_sweep"]


def test_the_workbench_keeps_an_escalated_case_with_the_office_above(site: Site) -> None:  # noqa: F811
    city = site.client()
    csrf = sign_in(city, site.shown.tokens["220100"])
    case = f"/workbench/alerts/{site.shown.case}"
    far = city.post(f"{case}/snooze", data={"csrf": csrf, "until": "9999-12-31", "reason": "x"})
    assert far.status_code in (303, 422) and _status(site.engine, site.shown.case) == "open"
    up = city.post(f"{case}/escalate", data={"csrf": csrf, "reason": "beyond the city"})
    assert told(city, up) == ("done", "The case is escalated.")
    page = city.get(case)
    assert page.status_code == 200 and 'data-testid="escalated-note"' in page.text
    assert f'action="{case}/close"' not in page.text
    closed = city.post(f"{case}/close", data={"csrf": csrf, "outcome": "handled", "note": "x"})
    assert closed.status_code == 303 and (told(city, closed) or ("", ""))[0] == "problem"
    assert _status(site.engine, site.shown.case) == "open"
    province = site.client()
    csrf = sign_in(province, site.shown.tokens["220000"])
    assert f'action="{case}/close"' in province.get(case).text
    done = province.post(f"{case}/close", data={"csrf": csrf, "outcome": "handled", "note": "x"})
    assert told(province, done) == ("done", "The case is closed.")
    assert _status(site.engine, site.shown.case) == "resolved"
