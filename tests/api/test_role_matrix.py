"""Every role against every route (issue 32), generated from the route table: each officer's
role (viewer, officer, supervisor, admin) and the office's own token call every operation a
regulator may call, and each is refused exactly where `service.registry.officers.PERMISSIONS`
says (403 `role_forbidden`), and only there; an officer's own account takes a person signed
in (the office's token: 403 `person_required`), whatever the role. A route added later is in
the matrix without anyone remembering; a route needing a permission other than reading (GET)
or acting (any other method) names it in ROUTE_PERMISSION. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app, routers
from service.config import Settings
from service.registry.officers import Permission, may
from tests import factories
from tests.api.conftest import bearer

NOWHERE = "x_00000000000000000000000000000000"
REGULATOR_GUARDS = {"regulator", "regulator_outside_tx", "regulator_or_institution", "officer"}
# Operations needing more than READ (GET) or ACT (any other method), by a pattern of the path.
ROUTE_PERMISSION: list[tuple[str, Permission]] = [
    (r"^/api/v1/officers(/|$)", Permission.MANAGE_OFFICERS),
    (r"^/api/v1/approvals/[^/]+/(approve|reject)$", Permission.APPROVE),
]
REFUSED = {"role_forbidden", "role_cannot_approve"}
ROLES = ("viewer", "officer", "supervisor", "admin", None)  # None: the office's own token


def _operations() -> list[tuple[str, str, str]]:
    out = []
    for router, prefix, guard in routers():
        if guard not in REGULATOR_GUARDS:
            continue
        for route in router.routes:
            assert isinstance(route, APIRoute)
            out += [(m, prefix + route.path, guard) for m in sorted(route.methods)]
    return out


def _permission(method: str, path: str) -> Permission:
    for pattern, permission in ROUTE_PERMISSION:
        if re.search(pattern, path):
            return permission
    return Permission.READ if method in ("GET", "HEAD") else Permission.ACT


def _expected(method: str, path: str, guard: str, role: str | None) -> str | None:
    """The refusal this role gets here, or None where the role passes (whatever the answer
    then: a made-up id is not found, an empty body invalid)."""
    if guard == "officer":  # one's own account: any person, no office token
        return "person_required" if role is None else None
    allowed = may(role or "officer", _permission(method, path))  # the office token: an officer
    if role is None and _permission(method, path) is Permission.APPROVE:
        allowed = False  # the office's token requests, never approves
    return None if allowed else "role_forbidden"


@pytest.fixture
def office(engine: Engine, settings: Settings) -> Any:
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        reg_id, office_token = factories.regulator(engine, "220000")
        people = {r: factories.officer(engine, reg_id, role=r).officer_id for r in ROLES if r}
        yield c, engine, office_token, people


def test_every_role_against_every_route(office: Any) -> None:
    c, engine, office_token, people = office
    ops = _operations()
    assert len(ops) >= 50  # the route table names them: an empty matrix is a broken one
    wrong = []
    for method, template, guard in ops:
        path = re.sub(r"\{[^}]+\}", NOWHERE, template)
        for role in ROLES:
            # A fresh session for each call: some calls end the caller's sessions.
            token = (
                office_token if role is None else factories.officer_session(engine, people[role])
            )
            body = {} if method == "POST" else None
            r = c.request(method, path, headers=bearer(token), json=body)
            code = (
                r.json().get("code") if r.headers.get("content-type", "").endswith("json") else None
            )
            expected = _expected(method, template, guard, role)
            if expected is not None and (r.status_code, code) not in {
                (403, expected),
                (403, "role_cannot_approve"),
            }:
                wrong.append(
                    f"{method} {template} as {role}: {r.status_code} {code}, expected {expected}"
                )
            elif expected is None and (
                r.status_code in (401, 500) or code in REFUSED | {"person_required"}
            ):
                wrong.append(
                    f"{method} {template} as {role}: {r.status_code} {code}, expected to pass"
                )
    assert wrong == []
