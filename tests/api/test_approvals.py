"""Four eyes (issue 32): each default action available now (unfreeze, rule_pack_change,
price_guide_publish) waits, pending, for a supervisor of the same office or one above, not the
requester; on approval it runs once, as the approver's act on the requester's request (both on
the audit record), judged again at that moment; decided twice or after 72 hours is 409; an
office's own token and a plain officer may request, never approve; an office beside sees and
decides nothing of another's; two supervisors approving at once run it exactly once. On SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.config import Settings
from service.errors import DomainError
from service.kit.db import make_sessionmaker, session_scope
from service.policy import approvals, region_settings
from service.registry import officers
from service.registry.models import (
    Approval,
    AuditEvent,
    InstitutionChange,
    Officer,
    Regulator,
)
from tests import factories
from tests.api.approving import person
from tests.api.conftest import bearer
from tests.api.test_plumbing import assert_problem


@dataclass
class Office:
    id: str
    token: str  # the office's own token (what `regulator create` prints)
    officer: str  # an officer's token: requests
    chief: str  # a supervisor's token: approves
    chief_id: str


def _office(c: TestClient, engine: Engine, region: str) -> Office:
    reg_id, token = factories.regulator(engine, region)
    made = factories.officer(engine, reg_id, "officer")
    chief = factories.officer(engine, reg_id, "supervisor")
    from tests.api.approving import sign_in

    return Office(reg_id, token, sign_in(c, made), sign_in(c, chief), chief.officer_id)


def _frozen_school(c: TestClient, engine: Engine, office: Office, region: str = "220402") -> str:
    bank = factories.bank(engine)
    body = factories.institution_body(bank.id, region=region)
    inst = c.post("/api/v1/institutions", json=body, headers=bearer(office.token))
    assert inst.status_code == 201, inst.text
    r = c.post(f"/api/v1/institutions/{inst.json()['id']}/freeze", headers=bearer(office.officer),
               json={"reason": "refunds stalled"})  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "frozen", r.text  # never delayed
    return str(inst.json()["id"])


def _decide(c: TestClient, token: str, approval_id: str, verb: str = "approve") -> Any:
    return c.post(f"/api/v1/approvals/{approval_id}/{verb}", headers=bearer(token),
                  json={"note": "seen the evidence"})  # fmt: skip


def _status(c: TestClient, token: str, inst: str) -> str:
    return str(c.get(f"/api/v1/institutions/{inst}", headers=bearer(token)).json()["status"])


# Each default action available now: how to ask for it, and how to see whether it ran.
@dataclass
class Action:
    name: str
    ask: Callable[[TestClient, Engine, Office], Any]
    done: Callable[[TestClient, Engine, Office, Any], bool]


def _ask_unfreeze(c: TestClient, engine: Engine, o: Office) -> Any:
    inst = _frozen_school(c, engine, o)
    return c.post(f"/api/v1/institutions/{inst}/unfreeze", headers=bearer(o.officer),
                  json={"reason": "refunds paid"})  # fmt: skip


def _unfrozen(c: TestClient, engine: Engine, o: Office, approval: Any) -> bool:
    return _status(c, o.token, approval["target"]) == "active"


def _ask_rule_change(c: TestClient, engine: Engine, o: Office) -> Any:
    return c.post("/api/v1/region-settings", headers=bearer(o.officer), json={
        "region_code": "220402", "key": "confirmation_window_days", "value": 11,
        "effective_from": _unique_day().isoformat(), "reason": "the city's new rule"})  # fmt: skip


def _rule_changed(c: TestClient, engine: Engine, o: Office, approval: Any) -> bool:
    p = approval["payload"]
    with session_scope(make_sessionmaker(engine)) as s:
        office = s.get(Regulator, o.id)
        assert office is not None
        return any(
            (v.region_code, v.key, v.effective_from.isoformat(), v.value)
            == (p["region_code"], p["key"], p["effective_from"], 11)
            for v in region_settings.history(s, regulator=office)
        )


def _unique_day() -> date:
    """A day no other test of the run picks (settings and guides are keyed by their day)."""
    return datetime.now(UTC).date() + timedelta(days=400 + uuid.uuid4().int % 20_000)


def _ask_guide(c: TestClient, engine: Engine, o: Office) -> Any:
    day = _unique_day()
    item = {"mode": "offline", "grade_band": "primary", "class_size_min": 1,
            "class_size_max": 30, "standard_minutes": 45, "base_price": "33.50",
            "max_float_pct": "10"}  # fmt: skip
    return c.post("/api/v1/price-guides", headers=bearer(o.officer), json={
        "region_code": "220402", "effective_from": day.isoformat(), "items": [item]})  # fmt: skip


def _published(c: TestClient, engine: Engine, o: Office, approval: Any) -> bool:
    guides = c.get("/api/v1/price-guides?region_code=220402", headers=bearer(o.token)).json()
    day = approval["payload"]["guides"][0]["effective_from"]
    return any(g["effective_from"] == day and g["region_code"] == "220402" for g in guides["items"])


ACTIONS = [
    Action("unfreeze", _ask_unfreeze, _unfrozen),
    Action("rule_pack_change", _ask_rule_change, _rule_changed),
    Action("price_guide_publish", _ask_guide, _published),
]


@pytest.fixture
def office(client: TestClient, engine: Engine) -> Office:
    return _office(client, engine, "220400")  # Liaoyuan


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_each_default_action_waits_for_a_second_person_then_runs_once(
    client: TestClient, engine: Engine, office: Office, action: Action
) -> None:
    asked = action.ask(client, engine, office)
    assert asked.status_code == 202, asked.text
    approval = asked.json()["approval"]
    assert (approval["action"], approval["status"]) == (action.name, "pending")
    assert approval["description"], "what it will do is shown in full"
    assert not action.done(client, engine, office, approval)  # nothing changed yet
    queue = client.get("/api/v1/approvals?status=pending", headers=bearer(office.chief)).json()
    assert approval["id"] in {a["id"] for a in queue["items"]}

    own = _decide(client, office.officer, approval["id"])  # the requester, and not a supervisor
    assert_problem(own, 403, "role_cannot_approve")
    machine = _decide(client, office.token, approval["id"])
    assert_problem(machine, 403, "role_cannot_approve")
    assert not action.done(client, engine, office, approval)

    r = _decide(client, office.chief, approval["id"])
    assert r.status_code == 200, r.text
    assert r.json()["approval"]["status"] == "approved"
    assert r.json()["result"]["ok"] is True, r.json()
    assert action.done(client, engine, office, approval)
    again = _decide(client, office.chief, approval["id"])
    assert_problem(again, 409, "approval_decided")
    assert_problem(_decide(client, office.chief, approval["id"], "reject"), 409, "approval_decided")
    pending = client.get("/api/v1/approvals?status=pending", headers=bearer(office.chief))
    assert approval["id"] not in {a["id"] for a in pending.json()["items"]}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_a_rejected_request_changes_nothing(
    client: TestClient, engine: Engine, office: Office, action: Action
) -> None:
    approval = action.ask(client, engine, office).json()["approval"]
    r = _decide(client, office.chief, approval["id"], "reject")
    assert r.status_code == 200, r.text
    assert (r.json()["approval"]["status"], r.json()["result"]) == ("rejected", None)
    assert r.json()["approval"]["note"] == "seen the evidence"
    assert not action.done(client, engine, office, approval)
    assert_problem(_decide(client, office.chief, approval["id"]), 409, "approval_decided")


def test_a_supervisor_may_not_approve_their_own_request(
    client: TestClient, engine: Engine, office: Office
) -> None:
    inst = _frozen_school(client, engine, office)
    asked = client.post(f"/api/v1/institutions/{inst}/unfreeze", headers=bearer(office.chief),
                        json={"reason": "mine"})  # fmt: skip
    approval = asked.json()["approval"]
    assert approval["requested_by"] == office.chief_id
    assert_problem(_decide(client, office.chief, approval["id"]), 403, "approval_by_requester")
    assert_problem(_decide(client, office.chief, approval["id"], "reject"), 403,
                   "approval_by_requester")  # fmt: skip
    other = person(client, engine, office.id, "admin")  # an admin approves too
    assert _decide(client, other, approval["id"]).status_code == 200
    assert _status(client, office.token, inst) == "active"


def test_a_viewer_neither_requests_nor_decides(
    client: TestClient, engine: Engine, office: Office
) -> None:
    approval = _ask_unfreeze(client, engine, office).json()["approval"]
    viewer = person(client, engine, office.id, "viewer")
    assert client.get("/api/v1/approvals", headers=bearer(viewer)).status_code == 200  # reads
    assert_problem(_decide(client, viewer, approval["id"]), 403, "role_forbidden")
    asked = client.post(f"/api/v1/institutions/{approval['target']}/unfreeze",
                        headers=bearer(viewer), json={"reason": "x"})  # fmt: skip
    assert_problem(asked, 403, "role_forbidden")


def test_the_audit_record_names_the_approver_and_the_requester(
    client: TestClient, engine: Engine, office: Office
) -> None:
    approval = _ask_unfreeze(client, engine, office).json()["approval"]
    assert _decide(client, office.chief, approval["id"]).status_code == 200
    with session_scope(make_sessionmaker(engine)) as s:
        done = s.scalars(select(AuditEvent).where(AuditEvent.subject == approval["target"],
                                                  AuditEvent.action == "status:active")).all()  # fmt: skip
        decided = s.scalars(select(AuditEvent).where(AuditEvent.subject == approval["id"])).all()
    assert len(done) == 1
    assert done[0].officer_id == office.chief_id  # the approver's act
    assert done[0].detail["approval"] == {"approval_id": approval["id"],
                                          "requested_by": approval["requested_by"]}  # fmt: skip
    assert approval["requested_by"].startswith("off_")  # a person asked
    actions = {e.action: e for e in decided}
    assert set(actions) == {"approval:request", "approval:approved"}
    assert actions["approval:request"].officer_id == approval["requested_by"]
    assert actions["approval:approved"].detail["requested_by"] == approval["requested_by"]
    assert actions["approval:approved"].detail["decided_by"] == office.chief_id


def test_preconditions_are_judged_again_when_approved(
    client: TestClient, engine: Engine, office: Office
) -> None:
    """As if asked at that moment: a school closed since the request is not reopened; the
    approval is decided and its result says why nothing was done (not a 500)."""
    approval = _ask_unfreeze(client, engine, office).json()["approval"]
    closed = client.post(f"/api/v1/institutions/{approval['target']}/status",
                         headers=bearer(office.officer),
                         json={"status": "closed", "reason": "owner gone"})  # fmt: skip
    assert closed.status_code == 200, closed.text
    r = _decide(client, office.chief, approval["id"])
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"ok": False, "code": "institution_not_frozen",
                                  "detail": r.json()["result"]["detail"]}  # fmt: skip
    assert r.json()["approval"]["status"] == "approved"
    assert _status(client, office.token, approval["target"]) == "closed"


def test_a_request_that_would_be_refused_now_is_refused_at_once(
    client: TestClient, engine: Engine, office: Office
) -> None:
    inst = _frozen_school(client, engine, office)
    assert _decide(client, office.chief, _ask_unfreeze_of(client, office, inst)).status_code == 200
    again = client.post(f"/api/v1/institutions/{inst}/unfreeze", headers=bearer(office.officer),
                        json={"reason": "twice"})  # fmt: skip
    assert_problem(again, 409, "institution_not_frozen")
    bad = client.post("/api/v1/region-settings", headers=bearer(office.officer), json={
        "region_code": "220402", "key": "risk_thresholds",
        "value": {"refund_failed": {"threshold": 0}}})  # fmt: skip
    assert_problem(bad, 422, "validation_error")
    with session_scope(make_sessionmaker(engine)) as s:
        waiting = s.scalar(select(func.count()).select_from(Approval).where(
            Approval.office_id == office.id, Approval.status == "pending"))  # fmt: skip
    assert waiting == 0


def _ask_unfreeze_of(c: TestClient, o: Office, inst: str) -> str:
    r = c.post(f"/api/v1/institutions/{inst}/unfreeze", headers=bearer(o.officer),
               json={"reason": "paid"})  # fmt: skip
    assert r.status_code == 202, r.text
    return str(r.json()["approval"]["id"])


def test_an_approval_expires_after_72_hours(
    client: TestClient, engine: Engine, office: Office
) -> None:
    approval = _ask_unfreeze(client, engine, office).json()["approval"]
    asked_at = datetime.fromisoformat(approval["requested_at"])
    assert datetime.fromisoformat(approval["expires_at"]) - asked_at == timedelta(hours=72)
    later = asked_at + timedelta(hours=72)
    client.app.state.clock = lambda: later  # type: ignore[attr-defined]
    try:
        made = factories.officer(engine, office.id, "supervisor")  # a session lasts a day
        code = pyotp.TOTP(made.totp_secret).at(later)
        chief = client.post("/api/v1/officer-sessions", json={
            "username": made.username, "password": made.password, "totp": code}).json()["token"]  # fmt: skip
        assert_problem(_decide(client, chief, approval["id"]), 409, "approval_expired")
        listed = client.get("/api/v1/approvals?status=expired", headers=bearer(chief))
        assert approval["id"] in {a["id"] for a in listed.json()["items"]}
        assert _status(client, office.token, approval["target"]) == "frozen"
    finally:
        client.app.state.clock = lambda: datetime.now(UTC)  # type: ignore[attr-defined]
    with session_scope(make_sessionmaker(engine)) as s:
        approvals.expire_due(s, now=asked_at + timedelta(hours=71))
        row = s.get(Approval, approval["id"])
        assert row is not None and row.status == "pending"
        approvals.expire_due(s, now=asked_at + timedelta(hours=72))
        assert row.status == "expired"


def test_the_expiry_job_marks_what_is_due_by_the_service_clock(
    engine: Engine, settings: Settings
) -> None:
    from service.jobs.base import JobContext
    from service.jobs.catalog import JOBS

    with session_scope(make_sessionmaker(engine)) as s:
        office = s.get(Regulator, factories.regulator(engine, "220300")[0])
        assert office is not None
        now = datetime.now(UTC)
        a = approvals.request(s, action="unfreeze", office=office, target="inst_x",
                              region_code="220302", payload={"institution_id": "inst_x",
                                                             "reason": "r"}, now=now)  # fmt: skip
        job = JOBS["approval_expiry"]
        ctx = JobContext(as_of=now, now=now + timedelta(hours=71, minutes=59),
                         settings=settings)  # fmt: skip
        job.fn(s, ctx)
        assert a.status == "pending"
        ctx = JobContext(as_of=now, now=now + timedelta(hours=72), settings=ctx.settings)
        assert job.fn(s, ctx)["approvals_expired"] >= 1
        assert a.status == "expired"
        s.rollback()


def test_scope_an_office_beside_neither_sees_nor_decides_one_above_does(
    client: TestClient, engine: Engine, office: Office
) -> None:
    """Liaoyuan's request: Siping (beside) sees nothing and gets 404 as for a made-up id;
    Jilin province (above) sees and decides it; Liaoyuan decides nothing of the province's."""
    approval = _ask_unfreeze(client, engine, office).json()["approval"]
    siping = _office(client, engine, "220300")
    listed = client.get("/api/v1/approvals", headers=bearer(siping.chief)).json()["items"]
    assert approval["id"] not in {a["id"] for a in listed}
    for verb in ("approve", "reject"):
        assert_problem(_decide(client, siping.chief, approval["id"], verb), 404, "not_found")
        assert_problem(_decide(client, siping.chief, "apr_nowhere", verb), 404, "not_found")
    province = _office(client, engine, "220000")
    assert approval["id"] in {
        a["id"]
        for a in client.get("/api/v1/approvals", headers=bearer(province.chief)).json()["items"]
    }
    upward = _ask_unfreeze(client, engine, province).json()["approval"]
    assert_problem(_decide(client, office.chief, upward["id"]), 404, "not_found")
    assert _decide(client, province.chief, approval["id"]).status_code == 200


def test_an_office_with_four_eyes_off_runs_at_once(
    client: TestClient, engine: Engine, office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one function that decides (the rule pack's `four_eyes` list, later) is obeyed:
    an action it does not list runs at once; a protective act never waits whatever it lists."""
    monkeypatch.setattr(approvals, "four_eyes_actions",
                        lambda *_: frozenset({"price_guide_publish", "freeze"}))  # fmt: skip
    inst = _frozen_school(client, engine, office)
    r = client.post(f"/api/v1/institutions/{inst}/unfreeze", headers=bearer(office.officer),
                    json={"reason": "no four eyes here"})  # fmt: skip
    assert (r.status_code, r.json()["status"]) == (200, "active")
    assert _ask_guide(client, engine, office).status_code == 202
    assert not approvals.required(_NoSession(), "freeze", "220402", datetime.now(UTC))


class _NoSession:
    pass


def _every_door_imported() -> None:
    """Every domain registers its actions when imported; the app's routes import them all."""
    from service.app import routers

    routers()


def test_every_default_action_available_now_is_registered() -> None:
    _every_door_imported()

    # The wind-down's opening and rounds (service.flows.winddown_requests) and the successor's
    # offer (service.flows.successor_requests) included: every default action is registered.
    assert approvals.DEFAULT_FOUR_EYES <= approvals.registered()
    assert not approvals.PROTECTIVE & approvals.registered()
    with pytest.raises(ValueError):
        approvals.register(approvals.Approvable(name="freeze", run=lambda *a: {},
                                                describe=lambda *a: []))  # fmt: skip


def test_every_registered_default_action_waits_under_the_default_packs(engine: Engine) -> None:
    """Each action of the default list that is registered waits for a second person in a
    region whose packs say nothing of four eyes (the national pack's default list), and a
    protective act never does: the one function every door asks (`approvals.submit`; an
    action asked before its module registered it is refused, never run unguarded)."""
    _every_door_imported()

    now = datetime.now(UTC)
    with session_scope(make_sessionmaker(engine)) as s:
        for action in approvals.DEFAULT_FOUR_EYES & approvals.registered():
            assert approvals.required(s, action, "220402", now), action
        assert not any(approvals.required(s, a, "220402", now) for a in approvals.PROTECTIVE)


# Two supervisors approving the same request at the same moment: exactly one runs it.


def _two_at_once(
    engine: Engine,
    office_id: str,
    approval_id: str,
    chiefs: list[str],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[str]:
    """The first supervisor's approval is made and its transaction held open a moment while the
    second's runs: on PostgreSQL the second read the request pending and waits on the row at
    its conditional update, on SQLite at its write lock; either way it finds it decided."""
    sessions = make_sessionmaker(engine)
    first_decided = threading.Event()
    outcomes: list[str] = []

    def decide(chief: str, first: bool) -> None:
        if not first:
            first_decided.wait(timeout=30)
        try:
            with session_scope(sessions) as s:
                officer = s.get(Officer, chief)
                office = s.get(Regulator, office_id)
                assert officer is not None and office is not None
                officers.acting(s, officer)
                done = approvals.decide(s, office=office, officer=officer, approval_id=approval_id,
                                        approve=True, note="at once", now=now())  # fmt: skip
                outcomes.append("ok" if done.result and done.result["ok"] else "refused")
                if first:
                    first_decided.set()
                    time.sleep(1.0)  # the second is now at our row (or at the write lock)
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            first_decided.set()

    threads = [threading.Thread(target=decide, args=(c, i == 0)) for i, c in enumerate(chiefs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return sorted(outcomes)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_two_supervisors_approving_at_once_run_it_exactly_once(
    client: TestClient, engine: Engine, office: Office, action: Action
) -> None:
    approval = action.ask(client, engine, office).json()["approval"]
    chiefs = [factories.officer(engine, office.id, "supervisor").officer_id for _ in range(2)]
    outcomes = _two_at_once(engine, office.id, approval["id"], chiefs)
    assert outcomes == ["approval_decided", "ok"], outcomes
    assert action.done(client, engine, office, approval)
    with session_scope(make_sessionmaker(engine)) as s:
        row = s.get(Approval, approval["id"])
        assert row is not None and row.status == "approved" and row.decided_by in chiefs
        ran = s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "approval:approved", AuditEvent.subject == approval["id"]))  # fmt: skip
        assert ran == 1
        if action.name == "unfreeze":
            changes = s.scalar(select(func.count()).select_from(InstitutionChange).where(
                InstitutionChange.institution_id == approval["target"],
                InstitutionChange.new_value == "active"))  # fmt: skip
            assert changes == 1


def test_the_queue_counts_pending_per_office(client: TestClient, engine: Engine) -> None:
    office = _office(client, engine, "220400")
    with session_scope(make_sessionmaker(engine)) as s:
        reg = s.get(Regulator, office.id)
        assert reg is not None
        before = approvals.pending_count(s, office=reg, now=datetime.now(UTC))
    _ask_unfreeze(client, engine, office)
    with session_scope(make_sessionmaker(engine)) as s:
        reg = s.get(Regulator, office.id)
        assert reg is not None
        assert approvals.pending_count(s, office=reg, now=datetime.now(UTC)) == before + 1
        later = datetime.now(UTC) + approvals.LIFETIME
        assert approvals.pending_count(s, office=reg, now=later) == 0


def test_the_same_unfreeze_waits_or_runs_as_the_institutions_pack_lists_it(
    client: TestClient, engine: Engine, office: Office
) -> None:
    """`four_eyes` under two packs: the same unfreeze by the same officer of Liaoyuan waits
    for a second person for a school in 220402 (the national list) and runs at once for one
    in 220403, whose pack lists only the price guide (a version no other test writes)."""
    factories.pack_override(engine, "220403", {"four_eyes": ["price_guide_publish"]})
    try:
        for region, status in (("220402", 202), ("220403", 200)):
            inst = _frozen_school(client, engine, office, region=region)
            r = client.post(f"/api/v1/institutions/{inst}/unfreeze",
                            headers=bearer(office.officer), json={"reason": "refunds paid"})  # fmt: skip
            assert r.status_code == status, (region, r.text)
            assert _status(client, office.token, inst) == ("frozen" if status == 202 else "active")
    finally:
        factories.drop_pack_overrides(engine, "220403")
