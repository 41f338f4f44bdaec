"""Object-level authorization, generated from the OpenAPI document (the reliability issue: the
matrix): every operation whose path names an object, called by the caller its document names
(a regulator, an institution, a parent, a bank) of one tenant with the id of the other
tenant's object, is refused exactly as a made-up id is (same status, same code), so that
existence never leaks; and never succeeds. A new operation is covered without anyone
remembering: an id parameter this test cannot resolve fails it. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.kit.clock import local_date
from tests import factories
from tests.api.approving import through

NOWHERE = "x_00000000000000000000000000000000"


@dataclass
class Tenant:
    reg: str
    key: str
    parent: str
    bank: factories.BankCred
    escrow: str
    ids: dict[str, str] = field(default_factory=dict)  # path parameter name → an object's id


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _bank(c: TestClient, bank: factories.BankCred, method: str, path: str, body: Any = None) -> Any:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {**bank.headers(method, path, raw), "content-type": "application/json"}
    return c.request(method, path, content=raw, headers=headers)


def _tenant(c: TestClient, engine: Engine, region: str) -> Tenant:
    """A school with one of everything: a course, a paid enrollment with a lesson and a refund
    (accepted: its instruction pending at the bank), cash in suspense, a statement and the
    alert its shortfall opened."""
    bank = factories.bank(engine)
    reg_id, reg = factories.regulator(engine, region)
    body = factories.institution_body(bank.id, region=region)
    inst = c.post("/api/v1/institutions", json=body, headers=_auth(reg)).json()
    t = Tenant(reg, inst["api_key"], "", bank, body["escrow_account_no"])
    course = c.post("/api/v1/courses", json=factories.course_body(n=20), headers=_auth(t.key))
    e = c.post("/api/v1/enrollments", headers=_auth(t.key), json={
        "course_id": course.json()["id"], "student_ref": "m", "lessons": 4, "amount": "80.00"}).json()  # fmt: skip
    now = datetime.now(UTC)
    pay = {"account_no": t.escrow, "amount": "80.00", "paid_at": now.isoformat()}
    _bank(c, bank, "POST", "/api/v1/bank/deposits", {**pay, "bank_txn_id": f"P{e['id']}",
                                                      "payment_reference": e["payment_reference"]})  # fmt: skip
    cash = _bank(c, bank, "POST", "/api/v1/bank/deposits", {**pay, "bank_txn_id": f"S{e['id']}",
                                                             "payment_reference": "NOBODY"})  # fmt: skip
    lesson = c.post(f"/api/v1/enrollments/{e['id']}/consumptions", headers=_auth(t.key),
                    json={"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()}).json()  # fmt: skip
    t.parent = c.post("/api/v1/parent/sessions", json={
        "enrollment_id": e["id"], "access_code": e["access_code"]}).json()["token"]  # fmt: skip
    refund = c.post("/api/v1/parent/refunds", headers=_auth(t.parent),
                    json={"lessons": 1, "reason": "m"}).json()  # fmt: skip
    c.post(f"/api/v1/refunds/{refund['id']}/respond", headers=_auth(t.key),
           json={"decision": "accept", "reason": "m"})  # fmt: skip
    pending = _bank(c, bank, "GET", "/api/v1/bank/instructions?status=pending").json()["items"]
    (ins,) = [i for i in pending if i["account_no"] == t.escrow]
    short = {"account_no": t.escrow, "statement_date": local_date(now).isoformat(),
             "opening_balance": "0", "closing_balance": "1", "transactions": []}  # fmt: skip
    stmt = _bank(c, bank, "POST", "/api/v1/bank/statements", short).json()
    alerts = c.get("/api/v1/risk/alerts", headers=_auth(reg)).json()["items"]
    (alert,) = [a for a in alerts if a["institution_id"] == inst["id"]]
    assert "id" in lesson and "id" in refund, (lesson, refund)
    # A second school of the region, wound up (the first goes on trading for the others).
    gone = c.post("/api/v1/institutions", headers=_auth(reg),
                  json=factories.institution_body(bank.id, region=region)).json()  # fmt: skip
    asked = c.post(f"/api/v1/institutions/{gone['id']}/wind-down", headers=_auth(reg),
                   json={"reason": "closed", "effective_at": now.isoformat(), "note": "m"})  # fmt: skip
    wd = {"id": through(c, engine, asked)["wind_down_id"]}  # four eyes: approved
    t.ids = {"institution_id": inst["id"], "course_id": course.json()["id"],
             "enrollment_id": e["id"], "consumption_id": lesson["id"], "refund_id": refund["id"],
             "deposit_id": cash.json()["deposit_id"], "alert_id": alert["id"],
             "instruction_id": ins["id"], "statement_id": stmt.get("id", NOWHERE),
             "regulator_id": reg_id, "wind_down_id": wd["id"],
             "officer_id": (officer := factories.officer(engine, reg_id)).officer_id,
             "token_id": factories.officer_token(engine, officer.officer_id)[0],
             "key_id": c.get("/api/v1/api-keys", headers=_auth(t.key)).json()["items"][0]["id"],
             "approval_id": _pending_approval(c, reg, region)}  # fmt: skip
    return t


def _pending_approval(c: TestClient, reg: str, region: str) -> str:
    """A four-eyes request of the office: a rule pack change waiting for a supervisor."""
    r = c.post("/api/v1/region-settings", headers=_auth(reg), json={
        "region_code": region, "key": "case_snooze_max_days", "value": 20})  # fmt: skip
    assert r.status_code == 202, r.text
    return str(r.json()["approval"]["id"])


@pytest.fixture
def tenants(engine: Engine, settings: Settings) -> Any:
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        # Two districts of Changchun (its guidance prices are published), each its own regulator.
        yield c, _tenant(c, engine, "220103"), _tenant(c, engine, "220104")


def _bodies(own: Tenant) -> dict[str, Any]:
    """A valid body for each kind of action (by the path's last segment): what is judged must
    be whose the object is, never whether the body is well formed."""
    soon = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    reason = {"reason": "matrix"}
    return {
        "freeze": reason, "unfreeze": reason, "escalate": reason, "dispute": reason,
        "closure": {"effective": "2027-12-31", **reason},
        "status": {"status": "blacklisted", **reason},
        "registry-changes": {"field": "address", "value": "elsewhere", **reason},
        "decide": {"decision": "uphold", **reason},  # a lesson's; a refund's below
        "refunds/decide": {"decision": "approve", **reason},
        "match": {"enrollment_id": own.ids["enrollment_id"]},
        "acknowledge": {"note": "m"}, "resolve": {"note": "m"},
        "assign": {"assignee_id": own.ids["regulator_id"]},
        "snooze": {"until": soon, **reason}, "close": {"outcome": "handled", "note": "m"},
        "consumptions": {"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()},
        "respond": {"decision": "accept", **reason},
        "result": {"status": "executed", "bank_txn_id": "MATRIX", "executed_at": soon},
        "rotate": {"overlap_hours": 1},
        "wind-down": {"reason": "closed", "effective_at": datetime.now(UTC).isoformat(),
                      "note": "m"},
        "rounds": {},
        "successor-offers": {"successor_institution_id": own.ids["institution_id"]},
        "approve": {"note": "m"}, "reject": {"note": "m"},
        "member": {"student_ref": "matrix-member"},
    }  # fmt: skip


def _body(bodies: dict[str, Any], template: str) -> Any:
    parts = template.rstrip("/").split("/")
    return bodies.get(f"{parts[-3]}/{parts[-1]}", bodies.get(parts[-1]))


def _operations(c: TestClient) -> list[tuple[str, str, str, list[str]]]:
    """(method, path, caller, its id parameters) of every operation naming an object."""
    out = []
    for path, ops in c.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, op in ops.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            schemes = {s for req in op.get("security", []) for s in req}
            if not names or not schemes:
                continue  # no object, or public (the public record is public)
            caller = ("bank" if "bankSignature" in schemes else "reg" if "regulatorToken" in schemes
                      else "key" if "institutionKey" in schemes else "parent")  # fmt: skip
            out.append((method.upper(), path, caller, names))
    return out


def _call(c: TestClient, who: Tenant, caller: str, method: str, path: str, body: Any) -> Any:
    if caller == "bank":
        return _bank(c, who.bank, method, path, body)
    token = {"reg": who.reg, "key": who.key, "parent": who.parent}[caller]
    return c.request(method, path, headers=_auth(token), json=body)


def _seen(r: Any) -> tuple[int, str | None]:
    return r.status_code, r.json().get("code") if r.content else None


def test_no_caller_reaches_another_tenants_object(tenants: Any) -> None:
    c, mine, theirs = tenants
    bodies = _bodies(mine)
    ops = _operations(c)
    assert len(ops) >= 25  # the document names them: an empty matrix is a broken one
    leaks = []
    for method, template, caller, names in ops:
        if names == ["name"]:  # a job's name is not an object (scope is judged per region)
            continue
        unresolved = [n for n in names if n not in theirs.ids]
        assert not unresolved, f"{method} {template}: add the kind of {unresolved} to the matrix"
        body = _body(bodies, template) if method == "POST" else None
        other = template.format(**{n: theirs.ids[n] for n in names})
        nowhere = template.format(**dict.fromkeys(names, NOWHERE))
        seen, unknown = (_seen(_call(c, mine, caller, method, p, body)) for p in (other, nowhere))
        if seen != unknown or seen[0] < 400 or seen[0] == 422:
            leaks.append(f"{method} {template} as {caller}: {seen}, made-up id: {unknown}")
    assert leaks == []


def test_ids_in_bodies_and_queries_are_scoped_too(tenants: Any) -> None:
    """An id of the other tenant given in a body or a query is as good as a made-up one."""
    c, mine, theirs = tenants
    own_course = mine.ids["course_id"]
    for enrol_in in (theirs.ids["course_id"], NOWHERE):
        r = c.post("/api/v1/enrollments", headers=_auth(mine.key), json={
            "course_id": enrol_in, "student_ref": "x", "lessons": 1, "amount": "20.00"})  # fmt: skip
        assert _seen(r) == (404, "not_found")
    assert own_course != theirs.ids["course_id"]
    match = f"/api/v1/deposits/{mine.ids['deposit_id']}/match"
    answers = [_seen(c.post(match, headers=_auth(mine.reg), json={"enrollment_id": e}))
               for e in (theirs.ids["enrollment_id"], NOWHERE)]  # fmt: skip
    assert answers[0] == answers[1] and answers[0][0] == 404
    assign = f"/api/v1/risk/alerts/{mine.ids['alert_id']}/assign"
    answers = [_seen(c.post(assign, headers=_auth(mine.reg), json={"assignee_id": r}))
               for r in (theirs.ids["regulator_id"], NOWHERE)]  # fmt: skip
    assert answers[0] == answers[1] and answers[0][0] >= 400
    for path in ("/api/v1/statements", "/api/v1/deposits", "/api/v1/refunds"):
        a, b = (c.get(path, headers=_auth(mine.reg), params={"institution_id": i})
                for i in (theirs.ids["institution_id"], NOWHERE))  # fmt: skip
        assert (a.status_code, a.json().get("items")) == (b.status_code, b.json().get("items"))


# Every role against every regulator route (issue 32): a viewer reads everything and writes
# nothing; an officer and the office's own token act and request but never decide a request;
# a supervisor and an admin decide another person's.


def _regulator_operations(c: TestClient) -> list[tuple[str, str, list[str]]]:
    out = []
    for path, ops in c.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, op in ops.items():
            schemes = {s for req in op.get("security", []) for s in req}
            if "regulatorToken" in schemes:
                names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
                out.append((method.upper(), path, names))
    return out


def test_every_role_against_every_regulator_route(tenants: Any, engine: Engine) -> None:
    from tests.api.approving import person

    c, mine, _ = tenants
    office = mine.ids["regulator_id"]
    roles = {r: person(c, engine, office, r) for r in ("viewer", "officer", "supervisor", "admin")}
    bodies = _bodies(mine)
    ops = _regulator_operations(c)
    assert len(ops) >= 40  # the document names them: an empty matrix is a broken one
    wrong = []
    for method, template, names in ops:
        if template.startswith("/api/v1/officer-"):
            continue  # one's own account (password, authenticator, tokens): every role's
        path = template.format(**{n: mine.ids.get(n, "risk_sweep") for n in names})
        body = _body(bodies, template) if method == "POST" else None
        r = c.request(method, path, headers=_auth(roles["viewer"]), json=body)
        seen = (r.status_code, None) if method == "GET" else _seen(r)  # a GET may be a CSV
        if method == "GET" and seen[0] in (401, 403) and template != "/api/v1/officers":
            wrong.append(f"viewer {method} {template}: {seen}")
        if method != "GET" and seen != (403, "role_forbidden"):
            wrong.append(f"viewer {method} {template}: {seen}")
    assert wrong == [], "\n".join(wrong)
    decide = f"/api/v1/approvals/{mine.ids['approval_id']}/approve"
    for who in (roles["officer"], mine.reg):  # they may request, never approve
        seen = _seen(c.post(decide, headers=_auth(who), json={"note": "m"}))
        assert seen == (403, "role_cannot_approve"), seen
    asked = c.post("/api/v1/region-settings", headers=_auth(roles["officer"]), json={
        "region_code": "220103", "key": "case_snooze_max_days", "value": 21})  # fmt: skip
    assert asked.status_code == 202, asked.text
    for who, approval in ((roles["supervisor"], mine.ids["approval_id"]),
                          (roles["admin"], asked.json()["approval"]["id"])):  # fmt: skip
        r = c.post(f"/api/v1/approvals/{approval}/approve", headers=_auth(who), json={"note": "m"})
        assert r.status_code == 200 and r.json()["result"]["ok"], r.text
