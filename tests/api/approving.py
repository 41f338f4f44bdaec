"""Four eyes in tests: an action that answers 202 is approved by a supervisor of the office
that asked, made for the purpose (service.policy.approvals)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.kit.db import make_sessionmaker, session_scope
from service.policy import approvals
from service.registry import officers
from service.registry.models import Approval, Officer, Regulator
from tests import factories


def sign_in(client: TestClient, made: Any) -> str:
    """A bearer token of the officer, with the code of the app's clock (tests move it)."""
    at = client.app.state.clock()  # type: ignore[attr-defined]
    code = pyotp.TOTP(made.totp_secret).at(at)
    r = client.post("/api/v1/officer-sessions", json={
        "username": made.username, "password": made.password, "totp": code})  # fmt: skip
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def person(client: TestClient, engine: Engine, office_id: str, role: str) -> str:
    """A bearer token of a new officer of the office with this role."""
    return sign_in(client, factories.officer(engine, office_id, role))


def approved(client: TestClient, engine: Engine, pending: Any, note: str = "checked") -> Any:
    """Approve the approval a 202 answered, as a new supervisor of the office that asked; the
    decision's answer (`{approval, result}`)."""
    assert pending.status_code == 202, pending.text
    approval = pending.json()["approval"]
    token = person(client, engine, approval["office_id"], "supervisor")
    r = client.post(f"/api/v1/approvals/{approval['id']}/approve",
                    headers={"Authorization": f"Bearer {token}"}, json={"note": note})  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def through(client: TestClient, engine: Engine, asked: Any) -> Any:
    """What an action answers once done: at once (not under four eyes), or the answer of its
    run on approval (which must have succeeded)."""
    if asked.status_code != 202:
        return asked.json()
    result = approved(client, engine, asked)["result"]
    assert result["ok"], result
    return result["answer"]


def approve_pending(
    engine: Engine,
    office_id: str,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    action: str | None = None,
    note: str = "approved in a test",
) -> list[dict[str, Any] | None]:
    """Approve every pending approval the office asked for (a page's or the CLI's request;
    only of `action` if given), as a new supervisor of the office, through the domain; their
    results."""
    chief = factories.officer(engine, office_id, "supervisor").officer_id
    out = []
    with session_scope(make_sessionmaker(engine)) as s:
        officer, office = s.get(Officer, chief), s.get(Regulator, office_id)
        assert officer is not None and office is not None
        officers.acting(s, officer)
        waiting = s.scalars(select(Approval.id).where(
            Approval.office_id == office_id, Approval.status == "pending",
            Approval.action == action if action else Approval.id.is_not(None))).all()  # fmt: skip
        for approval_id in waiting:
            done = approvals.decide(s, office=office, officer=officer, approval_id=approval_id,
                                    approve=True, note=note, now=now())  # fmt: skip
            out.append(done.result)
    return out


def office_of_region(engine: Engine, region: str) -> str:
    """The id of the (first) office of a region: the showcase's offices, by their region."""
    with session_scope(make_sessionmaker(engine)) as s:
        found = s.scalar(select(Regulator.id).where(Regulator.region_code == region)
                         .order_by(Regulator.created_at))  # fmt: skip
    assert found is not None
    return found


def sign_in_over_http(client: Any, made: dict[str, str], at: datetime | None = None) -> str:
    """A bearer token for an officer as `officer create` printed it, from a served API (an
    httpx client whose base URL is the site)."""
    code = pyotp.TOTP(made["totp_secret"]).at(at or datetime.now(UTC))
    r = client.post("/api/v1/officer-sessions", json={
        "username": made["username"], "password": made["password"], "totp": code})  # fmt: skip
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def approve_over_http(client: Any, chief: str, pending: Any) -> Any:
    """Approve, as the supervisor whose bearer token `chief` is, the approval a 202 answered
    (an httpx client of a served API); the action's answer, which must have succeeded."""
    assert pending.status_code == 202, pending.text
    approval = pending.json()["approval"]["id"]
    r = client.post(f"/api/v1/approvals/{approval}/approve",
                    headers={"Authorization": f"Bearer {chief}"}, json={"note": "checked"})  # fmt: skip
    assert r.status_code == 200 and r.json()["result"]["ok"], r.text
    return r.json()["result"]["answer"]


def at_once(
    client: TestClient, engine: Engine, asked: Any, status: int, read: Callable[[Any], Any]
) -> Any:
    """The response an action answers once done, for tests written before it waited for a
    second person: a refusal or an answer given at once as it is; a 202 approved by a new
    supervisor of the office (which must succeed), then `read(answer)` as the response with
    `status`."""
    if asked.status_code != 202:
        return asked
    answer = through(client, engine, asked)
    return httpx.Response(status, json=read(answer))


def engine_of(client: TestClient) -> Engine:
    """The engine of the app the client talks to."""
    bound: Engine = client.app.state.sessions.kw["bind"]  # type: ignore[attr-defined]
    return bound
