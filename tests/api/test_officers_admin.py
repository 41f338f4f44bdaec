"""An office's admin manages its officers in the workbench and over the API (issue 32): who
they are, a new officer (credentials and the authenticator's QR code shown once), another role
(from the officer's next request on; never one's own), disabling (sessions stop at once); only
the admin sees the page. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories
from tests.api.conftest import bearer


def _pages(c: TestClient, engine: Engine, officer_id: str) -> TestClient:
    """A browser signed into the workbench as the officer (the session made as sign-in does)."""
    from datetime import UTC, datetime

    from service.kit.db import make_sessionmaker, run_in_transaction
    from service.pages import signin
    from service.registry import officers
    from service.registry.models import Officer

    def make(s: Any) -> str:
        o = s.get(Officer, officer_id)
        cookie, _ = signin._opened(s, officers.office(s, o), o, officers.credential_hash(o),
                                   datetime.now(UTC))  # fmt: skip
        return cookie

    pages = TestClient(c.app, follow_redirects=False)
    pages.cookies.set("tg_session", run_in_transaction(make_sessionmaker(engine), make))
    return pages


def _csrf(text: str) -> str:
    return text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_the_admin_creates_changes_and_disables_officers_in_the_workbench(
    client: TestClient, engine: Engine
) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    pages = _pages(client, engine, admin.officer_id)
    page = pages.get("/workbench/officers?lang=zh")
    assert page.status_code == 200 and 'href="/workbench/officers"' in page.text
    csrf = _csrf(page.text)
    made = pages.post("/workbench/officers", data={"csrf": csrf, "name": "李娜", "role": "officer"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    shown = made.text.split('data-testid="created"', 1)[1].split("</section>", 1)[0]
    assert "<svg" in shown and "李娜" in shown
    username, password, secret = (part.split("</code>", 1)[0] for part in shown.split("<code")[1:4])
    username, password, secret = (v.split(">", 1)[1] for v in (username, password, secret))
    r = client.post("/api/v1/officer-sessions", json={
        "username": username, "password": password, "totp": pyotp.TOTP(secret).now()})  # fmt: skip
    assert r.status_code == 201, r.text
    token, new_id = r.json()["token"], r.json()["officer"]["id"]
    assert password not in pages.get("/workbench/officers").text  # shown once
    # Another role holds from the officer's next request on.
    bank = factories.bank(engine)
    body = factories.institution_body(bank.id)
    down = pages.post(f"/workbench/officers/{new_id}/role", data={"csrf": csrf, "role": "viewer"})
    assert down.status_code == 303
    r = client.post("/api/v1/institutions", headers=bearer(token), json=body)
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    # Never one's own role (the form is not offered; the API says why).
    own = pages.post(
        f"/workbench/officers/{admin.officer_id}/role", data={"csrf": csrf, "role": "viewer"}
    )
    assert own.status_code == 303
    assert (
        'action="/workbench/officers/' + admin.officer_id + '/role"'
        not in pages.get("/workbench/officers").text
    )
    gone = pages.post(f"/workbench/officers/{new_id}/disable", data={"csrf": csrf})
    assert gone.status_code == 303
    assert client.get("/api/v1/institutions", headers=bearer(token)).status_code == 401


def test_only_the_admin_sees_the_officers_page(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    for role in ("viewer", "officer", "supervisor"):
        pages = _pages(client, engine, factories.officer(engine, reg_id, role=role).officer_id)
        assert pages.get("/workbench/officers").status_code == 403
        assert 'href="/workbench/officers"' not in pages.get("/workbench").text


def test_the_role_over_the_api(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    token = factories.officer_session(engine, admin.officer_id)
    other = factories.officer(engine, reg_id, role="viewer")
    r = client.post(f"/api/v1/officers/{other.officer_id}/role", headers=bearer(token),
                    json={"role": "supervisor"})  # fmt: skip
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    own = client.post(f"/api/v1/officers/{admin.officer_id}/role", headers=bearer(token),
                      json={"role": "viewer"})  # fmt: skip
    assert (own.status_code, own.json()["code"]) == (409, "invalid_state")
    foreign_reg, _ = factories.regulator(engine, "220400")
    stranger = factories.officer_session(
        engine, factories.officer(engine, foreign_reg, role="admin").officer_id
    )
    r = client.post(f"/api/v1/officers/{other.officer_id}/role", headers=bearer(stranger),
                    json={"role": "viewer"})  # fmt: skip
    assert r.status_code == 404
