"""Officers (issue 32): people of an office with roles, signing in with a password and a TOTP
code, throttled without a lockout by a third party; a viewer writes nothing (API and every
workbench form); a disabled officer's sessions stop at once; the audit log names the officer.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.errors import DomainError
from service.kit.db import make_sessionmaker, run_in_transaction, session_scope
from service.pages import i18n, labels, workbench
from service.registry import officers
from service.registry.models import AuditEvent, Regulator
from tests import factories
from tests.api.conftest import bearer

SECRET = "test-secret-key-0123456789"


def _officer(engine: Engine, reg_id: str, role: str) -> officers.Created:
    def make(s: object) -> officers.Created:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        office = s.get(Regulator, reg_id)
        assert office is not None
        return officers.create_officer(
            s, regulator=office, name=f"Wang {uuid.uuid4().hex[:4]}", role=role,
            now=datetime.now(UTC), secret_key=SECRET, actor="test",
        )  # fmt: skip

    made: officers.Created = run_in_transaction(make_sessionmaker(engine), make)
    return made


def _session_body(made: officers.Created, at: datetime | None = None) -> dict[str, str]:
    code = pyotp.TOTP(made.totp_secret).at(at or datetime.now(UTC))
    return {"username": made.username, "password": made.password, "totp": code}


def _sign_in(c: TestClient, made: officers.Created) -> str:
    r = c.post("/api/v1/officer-sessions", json=_session_body(made))
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _authenticate(engine: Engine, made: officers.Created, code: str, now: datetime) -> bool:
    with session_scope(make_sessionmaker(engine)) as s:
        found = officers.authenticate(s, username=made.username, password=made.password,
                                      totp=code, client="10.0.0.9", now=now, secret_key=SECRET)  # fmt: skip
        return found is not None


def test_totp_of_the_previous_and_next_step_is_accepted_an_older_one_refused(
    engine: Engine,
) -> None:
    reg_id, _ = factories.regulator(engine)
    now = datetime(2026, 12, 7, 3, 0, 15, tzinfo=UTC)
    step = timedelta(seconds=officers.TOTP_STEP)
    totp = lambda made, at: pyotp.TOTP(made.totp_secret).at(at)  # noqa: E731
    older = _officer(engine, reg_id, "officer")
    assert not _authenticate(engine, older, totp(older, now - 2 * step), now)
    assert not _authenticate(engine, older, totp(older, now + 2 * step), now)
    previous = _officer(engine, reg_id, "officer")
    assert _authenticate(engine, previous, totp(previous, now - step), now)
    following = _officer(engine, reg_id, "officer")
    assert _authenticate(engine, following, totp(following, now + step), now)
    # A code is good once: the same one again (a replay inside its window) is refused.
    assert not _authenticate(engine, following, totp(following, now + step), now)
    assert not _authenticate(engine, following, totp(following, now), now)  # older than used
    assert _authenticate(engine, previous, totp(previous, now), now)  # newer than used


def test_an_officer_signs_in_and_the_audit_log_names_them(
    client: TestClient, engine: Engine
) -> None:
    reg_id, _ = factories.regulator(engine, "220000")
    made = _officer(engine, reg_id, "officer")
    r = client.post("/api/v1/officer-sessions", json=_session_body(made))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["officer"] == {"id": made.officer_id, "name": body["officer"]["name"],
                               "role": "officer", "office_id": reg_id, "region_code": "220000"}  # fmt: skip
    bank = factories.bank(engine)
    made_inst = client.post("/api/v1/institutions", headers=bearer(body["token"]),
                            json=factories.institution_body(bank.id))  # fmt: skip
    assert made_inst.status_code == 201, made_inst.text
    with session_scope(make_sessionmaker(engine)) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.subject == made_inst.json()["id"]))
        assert {e.officer_id for e in rows} == {made.officer_id}
    events = client.get("/api/v1/audit-events", headers=bearer(body["token"])).json()["items"]
    assert any(e["officer_id"] == made.officer_id for e in events)
    pages = TestClient(client.app, follow_redirects=False)
    pages.cookies.update(_page_sign_in(pages, made, offset=timedelta(seconds=officers.TOTP_STEP)))
    audit_page = pages.get("/workbench/audit")
    assert audit_page.status_code == 200 and body["officer"]["name"] in audit_page.text


def test_every_wrong_part_gets_the_same_answer(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine)
    made = _officer(engine, reg_id, "officer")
    right = _session_body(made)
    wrong_code = f"{(int(right['totp']) + 1) % 1_000_000:06d}"
    answers = [
        client.post("/api/v1/officer-sessions", json={**right, **change})
        for change in (
            {"password": made.password + "x"},
            {"totp": wrong_code},
            {"username": "nobody.at.all"},
        )
    ]
    assert {(a.status_code, a.json()["code"], a.json()["detail"]) for a in answers} == {
        (401, "invalid_credentials", "the username, password or code is wrong")
    }


def test_failures_slow_down_but_the_right_credentials_still_get_in(
    client: TestClient, engine: Engine
) -> None:
    reg_id, _ = factories.regulator(engine)
    made = _officer(engine, reg_id, "officer")
    wrong = {**_session_body(made), "password": "not-the-password-at-all"}
    codes = [client.post("/api/v1/officer-sessions", json=wrong) for _ in range(officers.FREE_FAILURES + 1)]  # fmt: skip
    assert [c.status_code for c in codes[: officers.FREE_FAILURES]] == [
        401
    ] * officers.FREE_FAILURES
    locked = codes[-1]
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) >= 1
    # Whoever guessed (here: the same client) cannot lock the officer out.
    assert client.post("/api/v1/officer-sessions", json=_session_body(made)).status_code == 201


def test_a_stranger_elsewhere_cannot_lock_the_officer_out(engine: Engine) -> None:
    """Failures count per account too (a guesser spread over addresses slows down), but the
    right password with the current code is admitted whatever the limits say."""
    reg_id, _ = factories.regulator(engine)
    made = _officer(engine, reg_id, "officer")
    now = datetime.now(UTC)
    sessions = make_sessionmaker(engine)
    for n in range(officers.FREE_FAILURES + 3):
        with session_scope(sessions) as s:
            try:
                officers.authenticate(s, username=made.username, password=f"guess-{n}-xxxxxxxx",
                                      totp="000000", client=f"10.9.{n}.1", now=now,
                                      secret_key=SECRET)  # fmt: skip
            except DomainError as exc:
                assert exc.code == "too_many_attempts" and n >= officers.FREE_FAILURES
    with session_scope(sessions) as s, pytest.raises(DomainError) as locked:
        officers.authenticate(s, username=made.username, password="another-wrong-guess",
                              totp="000000", client="10.8.0.1", now=now, secret_key=SECRET)  # fmt: skip
    assert locked.value.code == "too_many_attempts" and (locked.value.retry_after or 0) >= 1
    code = pyotp.TOTP(made.totp_secret).at(now)
    assert _authenticate(engine, made, code, now)


def test_a_viewer_reads_and_writes_nothing_over_the_api(client: TestClient, engine: Engine) -> None:
    reg_id, _ = factories.regulator(engine)
    token = _sign_in(client, _officer(engine, reg_id, "viewer"))
    assert client.get("/api/v1/institutions", headers=bearer(token)).status_code == 200
    bank = factories.bank(engine)
    r = client.post("/api/v1/institutions", headers=bearer(token),
                    json=factories.institution_body(bank.id))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")


def test_only_an_admin_manages_officers_and_a_disabled_officer_stops_at_once(
    client: TestClient, engine: Engine
) -> None:
    reg_id, office_token = factories.regulator(engine)
    admin = _sign_in(client, _officer(engine, reg_id, "admin"))
    for token in (office_token, _sign_in(client, _officer(engine, reg_id, "supervisor"))):
        r = client.post("/api/v1/officers", headers=bearer(token), json={"name": "Li", "role": "viewer"})  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    r = client.post("/api/v1/officers", headers=bearer(admin), json={"name": "Li Wei", "role": "officer"})  # fmt: skip
    assert r.status_code == 201, r.text
    created = officers.Created(**r.json())
    token = _sign_in(client, created)
    pages = TestClient(client.app, follow_redirects=False)
    page_cookie = _page_sign_in(pages, created, offset=timedelta(seconds=officers.TOTP_STEP))
    pages.cookies.update(page_cookie)
    assert pages.get("/workbench").status_code == 200
    listed = client.get("/api/v1/officers", headers=bearer(admin)).json()["items"]
    assert created.officer_id in {o["id"] for o in listed}
    done = client.post(f"/api/v1/officers/{created.officer_id}/disable", headers=bearer(admin))
    assert done.status_code == 200 and done.json()["disabled_at"]
    assert client.get("/api/v1/institutions", headers=bearer(token)).status_code == 401
    assert pages.get("/workbench").status_code == 303  # to sign in
    again = client.post("/api/v1/officer-sessions", json=_session_body(created))
    assert again.status_code == 401  # not even with the right password and a fresh code
    other_reg, _ = factories.regulator(engine, "220400")
    foreign = client.post(f"/api/v1/officers/{created.officer_id}/disable",
                          headers=bearer(_sign_in(client, _officer(engine, other_reg, "admin"))))  # fmt: skip
    assert foreign.status_code == 404


def _page_sign_in(
    c: TestClient, made: officers.Created, offset: timedelta = timedelta(0)
) -> dict[str, str]:
    page = c.get("/workbench/sign-in")
    csrf = page.cookies["tg_csrf"]
    code = pyotp.TOTP(made.totp_secret).at(datetime.now(UTC) + offset)
    c.cookies.set("tg_csrf", csrf)
    r = c.post("/workbench/sign-in", data={
        "csrf": csrf, "username": made.username, "password": made.password, "totp": code})  # fmt: skip
    assert r.status_code == 303 and "tg_session" in r.cookies, r.text
    return {"tg_session": r.cookies["tg_session"]}


def test_every_workbench_form_refuses_a_viewer(client: TestClient, engine: Engine) -> None:
    """The role matrix over the workbench's write routes: every POST a signed-in viewer sends
    with the session's CSRF token is 403 `role_forbidden` (signing out excepted)."""
    reg_id, _ = factories.regulator(engine)
    viewer = _officer(engine, reg_id, "viewer")
    pages = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    pages.cookies.update(_page_sign_in(pages, viewer))
    home = pages.get("/workbench")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf is not None
    posts = [
        r.path
        for router in workbench.ROUTERS
        for r in router.routes
        if isinstance(r, APIRoute) and "POST" in r.methods
        and r.path not in ("/workbench/sign-in", "/workbench/sign-out")
        and not r.path.startswith("/workbench/account")  # one's own credentials, any role
    ]  # fmt: skip
    assert len(posts) >= 10
    refused = i18n.gettext("zh")(labels.REFUSALS["role_forbidden"])
    for path in posts:
        filled = re.sub(r"\{[^}]+\}", "x_0000", path)
        r = pages.post(filled, data={"csrf": csrf.group(1)})
        assert r.status_code == 403, (path, r.status_code, r.text[:300])
        assert refused in r.text, path  # the role's refusal, in Chinese, not a stale form's
    out = pages.post("/workbench/sign-out", data={"csrf": csrf.group(1)})
    assert out.status_code == 303  # a viewer may still sign out


def test_weak_passwords_are_refused(engine: Engine) -> None:
    for weak in ("short", "password1234", "abc123abc123"):
        with pytest.raises(DomainError) as refused:
            officers.check_password(weak)
        assert refused.value.code == "weak_password"
    officers.check_password("a-long-and-unusual-passphrase")
