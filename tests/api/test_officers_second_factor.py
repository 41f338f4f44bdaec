"""An officer's TOTP secret stored under an earlier SECRET_KEY (the server's key changed since):
signing in with the right password is a clear 409 `second_factor_reset_required`, on the API and
in the workbench (never a 500), and an admin of the office resets the second factor (API,
workbench, CLI), after which the officer signs in with the new secret. A wrong password still
says nothing more than 401. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.kit.db import make_sessionmaker, run_in_transaction
from service.pages import i18n, labels
from service.registry import credentials, officer_account, officers
from service.registry.models import AuditEvent, Officer, OfficerRecoveryCode
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_officers_admin import _csrf, _pages

OLD_KEY = "the-server-key-before-it-changed-0123"


def _under_old_key(engine: Engine, made: officers.Created, pending: bool = False) -> None:
    """The officer's stored secret (or a pending enrolment's) as an earlier key encrypted it."""

    def change(s: Any) -> None:
        o = s.get(Officer, made.officer_id)
        cipher = credentials.encrypt_secret(OLD_KEY, made.totp_secret)
        if pending:
            o.totp_pending_ciphertext = cipher
        else:
            o.totp_secret_ciphertext = cipher

    run_in_transaction(make_sessionmaker(engine), change)


def _body(made: officers.Created, secret: str | None = None, **given: str) -> dict[str, str]:
    code = pyotp.TOTP(secret or made.totp_secret).now()
    return {"username": made.username, "password": made.password, "totp": code, **given}


def test_a_secret_under_an_old_key_is_a_clear_refusal_and_an_admin_resets_it(
    client: TestClient, engine: Engine
) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    made = factories.officer(engine, reg_id, role="officer")
    _under_old_key(engine, made)
    r = client.post("/api/v1/officer-sessions", json=_body(made))
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "second_factor_reset_required"
    # A recovery code instead of a code: the same answer, not a 401 that hides why.
    r = client.post("/api/v1/officer-sessions", json=_body(made, totp="ABCDE-FGHJK"))
    assert (r.status_code, r.json()["code"]) == (409, "second_factor_reset_required")
    # Without the right password nothing is told: the same 401 as any wrong part.
    r = client.post("/api/v1/officer-sessions", json=_body(made, password="not-the-password-1"))
    assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
    # The admin resets it; the officer signs in with the new secret, the old one is gone.
    token = factories.officer_session(engine, admin.officer_id)
    reset = client.post(f"/api/v1/officers/{made.officer_id}/totp-reset", headers=bearer(token))
    assert reset.status_code == 200, reset.text
    fresh = reset.json()
    assert fresh["username"] == made.username and fresh["otpauth_uri"].startswith("otpauth://")
    r = client.post("/api/v1/officer-sessions", json=_body(made, secret=fresh["totp_secret"]))
    assert r.status_code == 201, r.text
    with make_sessionmaker(engine)() as s:
        events = [e for e in s.query(AuditEvent).filter_by(action="officer:totp_reset")]
        assert [(e.subject, e.officer_id) for e in events] == [(made.officer_id, admin.officer_id)]


def test_the_reset_is_the_admins_of_the_office_only(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    made = factories.officer(engine, reg_id, role="officer")
    mine = factories.officer_session(engine, admin.officer_id)
    own = client.post(f"/api/v1/officers/{admin.officer_id}/totp-reset", headers=bearer(mine))
    assert (own.status_code, own.json()["code"]) == (409, "invalid_state")
    for role in ("viewer", "officer", "supervisor"):
        token = factories.officer_session(
            engine, factories.officer(engine, reg_id, role).officer_id
        )
        r = client.post(f"/api/v1/officers/{made.officer_id}/totp-reset", headers=bearer(token))
        assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    other_reg, _ = factories.regulator(engine, "220400")
    stranger = factories.officer_session(
        engine, factories.officer(engine, other_reg, role="admin").officer_id
    )
    r = client.post(f"/api/v1/officers/{made.officer_id}/totp-reset", headers=bearer(stranger))
    assert r.status_code == 404


def test_the_reset_ends_sessions_and_recovery_codes(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    made = factories.officer(engine, reg_id, role="officer")
    before = factories.officer_session(engine, made.officer_id)

    def codes(s: Any) -> list[str]:
        return officer_account.recovery_codes.renew(
            s, officer_id=made.officer_id, secret_key=factories.SECRET_KEY, now=datetime.now(UTC)
        )

    run_in_transaction(make_sessionmaker(engine), codes)
    assert client.get("/api/v1/institutions", headers=bearer(before)).status_code == 200
    token = factories.officer_session(engine, admin.officer_id)
    r = client.post(f"/api/v1/officers/{made.officer_id}/totp-reset", headers=bearer(token))
    assert r.status_code == 200
    assert client.get("/api/v1/institutions", headers=bearer(before)).status_code == 401
    with make_sessionmaker(engine)() as s:
        assert s.query(OfficerRecoveryCode).filter_by(officer_id=made.officer_id).count() == 0


def test_the_workbench_says_why_and_the_admin_resets_it_there(
    client: TestClient, engine: Engine
) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    admin = factories.officer(engine, reg_id, role="admin")
    made = factories.officer(engine, reg_id, role="officer")
    _under_old_key(engine, made)
    browser = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    csrf = browser.get("/workbench/sign-in").cookies["tg_csrf"]
    browser.cookies.set("tg_csrf", csrf)
    r = browser.post("/workbench/sign-in", data={"csrf": csrf, **_body(made)})
    assert r.status_code == 303 and "tg_session" not in r.cookies, r.text
    shown = browser.get(r.headers["location"] + "&lang=zh")
    said = i18n.gettext("zh")(labels.REFUSALS["second_factor_reset_required"])
    assert shown.status_code == 200 and said in shown.text
    pages = _pages(client, engine, admin.officer_id)
    page = pages.get("/workbench/officers?lang=zh")
    assert f'action="/workbench/officers/{made.officer_id}/totp-reset"' in page.text
    assert f'action="/workbench/officers/{admin.officer_id}/totp-reset"' not in page.text
    done = pages.post(f"/workbench/officers/{made.officer_id}/totp-reset",
                      data={"csrf": _csrf(page.text)})  # fmt: skip
    assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
    box = done.text.split('data-testid="reset"', 1)[1].split("</section>", 1)[0]
    assert "<svg" in box
    secret = box.split('<code class="secret">', 1)[1].split("</code>", 1)[0]
    r = client.post("/api/v1/officer-sessions", json=_body(made, secret=secret))
    assert r.status_code == 201, r.text


def test_a_pending_enrolment_under_an_old_key_is_started_again(
    client: TestClient, engine: Engine
) -> None:
    """The account page shows no stale QR code (not a 500) and confirming it says to start
    again (409 `no_enrolment`)."""
    reg_id, _ = factories.regulator(engine, "220000")
    made = factories.officer(engine, reg_id, role="officer")
    _under_old_key(engine, made, pending=True)
    pages = _pages(client, engine, made.officer_id)
    assert pages.get("/workbench/account").status_code == 200
    token = factories.officer_session(engine, made.officer_id)
    r = client.post("/api/v1/officer-totp/confirm", headers=bearer(token),
                    json={"totp": pyotp.TOTP(made.totp_secret).now()})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (409, "no_enrolment")
