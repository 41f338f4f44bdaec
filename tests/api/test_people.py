"""People, not tokens (issue 32): the audit log and every case name the person who acted —
a job run over the API, a claim (经办人, "只看我的" per officer, not per office), the case's
history, the workbench's audit log filtered by an officer's name. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.kit.db import make_sessionmaker, session_scope
from service.registry import officers
from service.registry.models import AuditEvent
from service.risk.models import Alert
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_cases import open_case, post
from tests.api.test_flows import World


def sign_in(c: TestClient, made: officers.Created, at: datetime) -> str:
    code = pyotp.TOTP(made.totp_secret).at(at)
    r = c.post("/api/v1/officer-sessions",
               json={"username": made.username, "password": made.password, "totp": code})  # fmt: skip
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def page_sign_in(c: TestClient, made: officers.Created, at: datetime) -> TestClient:
    """A browser of its own, signed into the workbench as the officer (a code of the next
    step: the API sign-in used the current one, and a code is good once)."""
    pages = TestClient(c.app, follow_redirects=False)
    csrf = pages.get("/workbench/sign-in").cookies["tg_csrf"]
    pages.cookies.set("tg_csrf", csrf)
    code = pyotp.TOTP(made.totp_secret).at(at + timedelta(seconds=officers.TOTP_STEP))
    r = pages.post("/workbench/sign-in", data={
        "csrf": csrf, "username": made.username, "password": made.password, "totp": code})  # fmt: skip
    assert r.status_code == 303 and "tg_session" in r.cookies, r.text
    pages.cookies.set("tg_session", r.cookies["tg_session"])
    return pages


def _events(engine: Engine, **where: Any) -> list[AuditEvent]:
    with session_scope(make_sessionmaker(engine)) as s:
        stmt = select(AuditEvent).where(*(getattr(AuditEvent, k) == v for k, v in where.items()))
        found = list(s.scalars(stmt))
        s.expunge_all()
        return found


def test_a_job_run_over_the_api_names_the_officer(world: World, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    made = factories.officer(engine, reg_id)
    token = sign_in(world.client, made, world.clock.now)
    r = world.client.post("/api/v1/jobs/risk_sweep/run", headers=bearer(token), json={})
    assert r.status_code == 200, r.text
    (run,) = _events(engine, action="job:risk_sweep")
    assert run.officer_id == made.officer_id and run.actor == f"regulator:{reg_id}"


def test_a_claim_names_the_officer_and_mine_is_the_officers(world: World, engine: Engine) -> None:
    case = open_case(world)
    reg_id, office_token = factories.regulator(engine, "220000")
    wang, li = (factories.officer(engine, reg_id) for _ in range(2))
    now = world.clock.now
    wang_token, li_token = sign_in(world.client, wang, now), sign_in(world.client, li, now)
    claimed = post(world, f"{case['id']}/claim", wang_token)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee_officer_id"] == wang.officer_id
    assert claimed.json()["assignee_id"] == reg_id

    def mine(token: str) -> list[str]:
        r = world.client.get("/api/v1/risk/alerts?mine=true", headers=bearer(token))
        return [a["id"] for a in r.json()["items"]]

    assert mine(wang_token) == [case["id"]]
    assert mine(li_token) == []  # the same office, another person: not hers
    assert mine(office_token) == [case["id"]]  # the office's own token: the office's cases
    (event,) = _events(engine, action="alert:claim", subject=case["id"])
    assert event.officer_id == wang.officer_id
    # Given to the office as a whole, the case names nobody of it.
    again = post(world, f"{case['id']}/assign", li_token, assignee_id=reg_id)
    assert again.json()["assignee_officer_id"] is None
    assert mine(wang_token) == []


def test_the_case_and_its_history_name_the_person(world: World, engine: Engine) -> None:
    case = open_case(world)
    reg_id, _ = factories.regulator(engine, "220000")
    made = factories.officer(engine, reg_id)
    name = _name(engine, made)
    pages = page_sign_in(world.client, made, world.clock.now)
    home = pages.get("/workbench/alerts")
    csrf = home.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = pages.post(f"/workbench/alerts/{case['id']}/claim", data={"csrf": csrf})
    assert r.status_code == 303, r.text
    page = pages.get(f"/workbench/alerts/{case['id']}")
    assignee = page.text.split('data-testid="assignee">', 1)[1].split("</dd>", 1)[0]
    assert name in assignee  # 经办人: the person, beside the office
    history = page.text.split('id="hist-h"', 1)[1]
    assert name in history
    queue = pages.get("/workbench/alerts?mine=1")
    assert case["id"] in queue.text and name in queue.text
    with session_scope(make_sessionmaker(engine)) as s:
        alert = s.get(Alert, case["id"])
        assert alert is not None and alert.assignee_officer_id == made.officer_id


def _name(engine: Engine, made: officers.Created) -> str:
    from service.registry.models import Officer

    with session_scope(make_sessionmaker(engine)) as s:
        officer = s.get(Officer, made.officer_id)
        assert officer is not None
        return officer.name


def test_the_audit_log_filters_by_an_officers_name(world: World, engine: Engine) -> None:
    case = open_case(world)
    reg_id, _ = factories.regulator(engine, "220000")
    wang, li = (factories.officer(engine, reg_id) for _ in range(2))
    now = world.clock.now
    post(world, f"{case['id']}/claim", sign_in(world.client, wang, now))
    post(world, f"{case['id']}/acknowledge", sign_in(world.client, li, now), note="seen by Li")
    pages = page_sign_in(world.client, li, now)
    whole = pages.get("/workbench/audit")
    option = f'<option value="officer:{wang.officer_id}"'
    assert option in whole.text and _name(engine, wang) in whole.text
    only_wang = pages.get(f"/workbench/audit?actor=officer:{wang.officer_id}")
    rows = only_wang.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert _name(engine, wang) in rows and _name(engine, li) not in rows
    # (The whole log's first page may be other tests' later events on a shared database.)
    only_li = pages.get(f"/workbench/audit?actor=officer:{li.officer_id}").text
    assert "seen by Li" not in rows and "seen by Li" in only_li
    api = world.client.get(f"/api/v1/audit-events?actor=officer:{li.officer_id}",
                           headers=bearer(world.reg)).json()["items"]  # fmt: skip
    assert api and {e["officer_id"] for e in api} == {li.officer_id}
