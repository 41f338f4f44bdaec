"""An officer's own account (issue 32): sessions end after a working day, on a new password and
on "sign out everywhere" (API and workbench); a disabled officer's sessions and API tokens stop
at once; API tokens are named, expire, are listed and revoked, kept hashed and shown once; an
authenticator is enrolled by QR code and one valid code, with single-use recovery codes; a
password is long and not a common one. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.errors import DomainError
from service.kit.db import make_sessionmaker, session_scope
from service.kit.ids import token_hash
from service.registry import officers
from service.registry.models import OfficerRecoveryCode, OfficerToken
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import World


def _next_step(w: World) -> None:
    """A code is good once: the next sign-in of the same officer takes the next step's."""
    w.clock.now += timedelta(seconds=officers.TOTP_STEP)


def _sign_in(w: World, made: officers.Created, secret: str | None = None, **given: str) -> Any:
    _next_step(w)
    code = pyotp.TOTP(secret or made.totp_secret).at(w.clock.now)
    body = {"username": made.username, "password": made.password, "totp": code, **given}
    return w.client.post("/api/v1/officer-sessions", json=body)


def _token(w: World, made: officers.Created, **given: str) -> str:
    r = _sign_in(w, made, **given)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _pages(w: World, made: officers.Created, password: str | None = None) -> TestClient:
    _next_step(w)
    pages = TestClient(w.client.app, follow_redirects=False)
    csrf = pages.get("/workbench/sign-in").cookies["tg_csrf"]
    pages.cookies.set("tg_csrf", csrf)
    code = pyotp.TOTP(made.totp_secret).at(w.clock.now)
    r = pages.post("/workbench/sign-in", data={"csrf": csrf, "username": made.username,
                   "password": password or made.password, "totp": code})  # fmt: skip
    assert r.status_code == 303 and "tg_session" in r.cookies, r.text
    pages.cookies.set("tg_session", r.cookies["tg_session"])
    return pages


def _reads(w: World, token: str) -> int:
    return w.client.get("/api/v1/institutions", headers=bearer(token)).status_code


@pytest.fixture
def office(world: World, engine: Engine) -> tuple[str, str]:
    return factories.regulator(engine, "220000")


def test_a_session_ends_after_a_working_day(world: World, engine: Engine, office: Any) -> None:
    made = factories.officer(engine, office[0])
    token = _token(world, made)
    pages = _pages(world, made)
    world.clock.now += timedelta(hours=officers.SESSION_HOURS) - timedelta(minutes=1)
    assert _reads(world, token) == 200 and pages.get("/workbench").status_code == 200
    world.clock.now += timedelta(minutes=2)
    assert _reads(world, token) == 401
    assert pages.get("/workbench").status_code == 303  # to sign in


def test_signing_out_everywhere_ends_every_session_not_the_tokens(
    world: World, engine: Engine, office: Any
) -> None:
    made, other = factories.officer(engine, office[0]), factories.officer(engine, office[0])
    first, second = _token(world, made), _token(world, made)
    pages = _pages(world, made)
    script = world.client.post("/api/v1/officer-tokens", headers=bearer(first),
                               json={"name": "nightly export"}).json()["token"]  # fmt: skip
    theirs = _token(world, other)
    r = world.client.post("/api/v1/officer-sessions/revoke-all", headers=bearer(second))
    assert r.status_code == 200, r.text
    assert _reads(world, first) == _reads(world, second) == 401
    assert pages.get("/workbench").status_code == 303
    assert _reads(world, theirs) == 200  # another officer's session is not theirs to end
    assert _reads(world, script) == 200  # a token is revoked by name, not by signing out
    assert _reads(world, _token(world, made)) == 200  # signing in again works


def test_signing_out_everywhere_from_the_workbench(
    world: World, engine: Engine, office: Any
) -> None:
    made = factories.officer(engine, office[0], role="viewer")  # any role: their own sessions
    token = _token(world, made)
    pages = _pages(world, made)
    page = pages.get("/workbench/account")
    assert page.status_code == 200 and made.username in page.text
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = pages.post("/workbench/account/sign-out-everywhere", data={"csrf": csrf})
    assert r.status_code == 303, r.text
    assert _reads(world, token) == 401
    assert pages.get("/workbench").status_code == 303


def test_a_new_password_ends_the_sessions(world: World, engine: Engine, office: Any) -> None:
    made = factories.officer(engine, office[0])
    token, pages = _token(world, made), _pages(world, made)
    change = "/api/v1/officer-password"
    wrong = world.client.post(change, headers=bearer(token),
                              json={"current_password": "not-it-at-all", "new_password": "x" * 20})  # fmt: skip
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    for weak in ("short", "Password2024!", "iloveyou123456", made.password):
        r = world.client.post(change, headers=bearer(token),
                              json={"current_password": made.password, "new_password": weak})  # fmt: skip
        assert (r.status_code, r.json()["code"]) == (422, "weak_password"), weak
    assert _reads(world, token) == 200  # nothing changed
    new = "horse battery staple 7Q"
    r = world.client.post(change, headers=bearer(token),
                          json={"current_password": made.password, "new_password": new})  # fmt: skip
    assert r.status_code == 200, r.text
    assert _reads(world, token) == 401 and pages.get("/workbench").status_code == 303
    assert _sign_in(world, made).status_code == 401  # the old password
    assert _reads(world, _token(world, made, password=new)) == 200


def test_wrong_current_passwords_slow_down(world: World, engine: Engine, office: Any) -> None:
    made = factories.officer(engine, office[0])
    token = _token(world, made)
    body = {"current_password": "guess-guess-guess", "new_password": "a fine new password 9"}
    answers = [world.client.post("/api/v1/officer-password", headers=bearer(token), json=body)
               for _ in range(officers.FREE_FAILURES + 1)]  # fmt: skip
    assert [a.status_code for a in answers] == [403] * officers.FREE_FAILURES + [429]


def test_a_disabled_officers_sessions_and_tokens_stop_at_once(
    world: World, engine: Engine, office: Any
) -> None:
    admin = _token(world, factories.officer(engine, office[0], role="admin"))
    made = factories.officer(engine, office[0])
    session_token = _token(world, made)
    api_token = world.client.post("/api/v1/officer-tokens", headers=bearer(session_token),
                                  json={"name": "script"}).json()["token"]  # fmt: skip
    assert _reads(world, session_token) == _reads(world, api_token) == 200
    r = world.client.post(f"/api/v1/officers/{made.officer_id}/disable", headers=bearer(admin))
    assert r.status_code == 200
    assert _reads(world, session_token) == _reads(world, api_token) == 401


def test_api_tokens_are_named_expire_listed_revoked_hashed_and_shown_once(
    world: World, engine: Engine, office: Any
) -> None:
    viewer = factories.officer(engine, office[0], role="viewer")
    session_token = _token(world, viewer)
    h = bearer(session_token)
    made = world.client.post("/api/v1/officer-tokens", headers=h,
                             json={"name": "monthly report", "expires_in_days": 7})  # fmt: skip
    assert made.status_code == 201, made.text
    issued = made.json()
    token = issued["token"]
    assert _reads(world, token) == 200
    bank = factories.bank(engine)
    write = world.client.post("/api/v1/institutions", headers=bearer(token),
                              json=factories.institution_body(bank.id))  # fmt: skip
    assert (write.status_code, write.json()["code"]) == (403, "role_forbidden")  # the role holds
    listed = world.client.get("/api/v1/officer-tokens", headers=h).json()["items"]
    assert [t["name"] for t in listed] == ["monthly report"] and "token" not in listed[0]
    with session_scope(make_sessionmaker(engine)) as s:
        row = s.get(OfficerToken, issued["id"])
        assert row is not None and row.token_hash == token_hash(token)
        assert token not in {row.token_hash, row.name, row.id}
    # The token manages no credentials; the office's token has no person to manage.
    for other in (token, office[1]):
        r = world.client.post("/api/v1/officer-tokens", headers=bearer(other), json={"name": "x"})
        assert (r.status_code, r.json()["code"]) == (403, "person_required")
    # Another officer cannot revoke it (not found, as a made-up id).
    stranger = _token(world, factories.officer(engine, office[0]))
    answers = {world.client.post(f"/api/v1/officer-tokens/{i}/revoke", headers=bearer(stranger)).status_code
               for i in (issued["id"], "otk_nothing")}  # fmt: skip
    assert answers == {404}
    second = world.client.post("/api/v1/officer-tokens", headers=h, json={"name": "b"}).json()
    r = world.client.post(f"/api/v1/officer-tokens/{issued['id']}/revoke", headers=h)
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert _reads(world, token) == 401 and _reads(world, second["token"]) == 200
    world.clock.now += timedelta(days=officers.SESSION_HOURS)  # past b's 90 days? not yet
    assert _reads(world, second["token"]) == 200
    world.clock.now += timedelta(days=91)
    assert _reads(world, second["token"]) == 401  # expired
    too_long = world.client.post("/api/v1/officer-tokens", headers=bearer(_token(world, viewer)),
                                 json={"name": "c", "expires_in_days": 366})  # fmt: skip
    assert too_long.status_code == 422


def test_an_authenticator_is_enrolled_by_qr_code_and_one_valid_code(
    world: World, engine: Engine, office: Any
) -> None:
    made = factories.officer(engine, office[0])
    h = bearer(_token(world, made))
    never = world.client.post("/api/v1/officer-totp/confirm", headers=h, json={"totp": "123456"})
    assert (never.status_code, never.json()["code"]) == (409, "no_enrolment")
    started = world.client.post("/api/v1/officer-totp", headers=h)
    assert started.status_code == 201, started.text
    e = started.json()
    assert e["qr_svg"].lstrip().startswith("<svg") and "<script" not in e["qr_svg"]
    assert e["otpauth_uri"].startswith("otpauth://totp/") and e["secret"] in e["otpauth_uri"]
    new = pyotp.TOTP(e["secret"])
    old_code_now = pyotp.TOTP(made.totp_secret).at(world.clock.now)
    wrong = world.client.post(
        "/api/v1/officer-totp/confirm", headers=h, json={"totp": old_code_now}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_totp")
    assert _sign_in(world, made).status_code == 201  # until confirmed, the old one works
    done = world.client.post("/api/v1/officer-totp/confirm", headers=h,
                             json={"totp": new.at(world.clock.now)})  # fmt: skip
    assert done.status_code == 200, done.text
    codes = done.json()["recovery_codes"]
    assert len(codes) == 8 and len(set(codes)) == 8
    assert _sign_in(world, made).status_code == 401  # the old authenticator is gone
    assert _sign_in(world, made, secret=e["secret"]).status_code == 201
    with session_scope(make_sessionmaker(engine)) as s:
        stored = {r.code_hash for r in s.scalars(select(OfficerRecoveryCode))}
        assert not {c.replace("-", "") for c in codes} & stored and len(stored) >= 8
    # A recovery code stands in for a code once.
    rescue = {"username": made.username, "password": made.password, "totp": codes[0]}
    first = world.client.post("/api/v1/officer-sessions", json=rescue)
    assert first.status_code == 201, first.text
    assert world.client.post("/api/v1/officer-sessions", json=rescue).status_code == 401
    wrong_pw = {**rescue, "totp": codes[1], "password": "not-the-password-x"}
    assert world.client.post("/api/v1/officer-sessions", json=wrong_pw).status_code == 401
    assert world.client.post("/api/v1/officer-sessions", json={**rescue, "totp": codes[1]}).status_code == 201  # fmt: skip


def test_common_passwords_are_refused_however_decorated() -> None:
    for weak in ("password1234", "Password2024!", "!!iloveyou123", "qwertyuiop123",
                 "aaaaaaaaaaaaaa", "woaini520520", "dragon12345678"):  # fmt: skip
        with pytest.raises(DomainError) as refused:
            officers.check_password(weak, "wang.li")
        assert refused.value.code == "weak_password", weak
    officers.check_password("a fine long passphrase 42", "wang.li")
    with pytest.raises(DomainError):
        officers.check_password("wang.li-is-my-password", "wang.li")


def _csrf(page: Any) -> str:
    return str(page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0])


def test_the_account_page_enrols_issues_and_changes_for_any_role(
    world: World, engine: Engine, office: Any
) -> None:
    made = factories.officer(engine, office[0], role="viewer")
    pages = _pages(world, made)
    page = pages.get("/workbench/account")
    assert 'data-testid="account-link"' in page.text  # the header names the person
    csrf = _csrf(page)
    r = pages.post("/workbench/account/tokens", data={"csrf": csrf, "name": "weekly", "days": "30"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = r.text.split('data-testid="issued">', 1)[1].split('<code class="secret">', 1)[1]
    token = token.split("</code>", 1)[0]
    assert _reads(world, token) == 200
    assert token not in pages.get("/workbench/account").text  # shown once
    assert pages.post("/workbench/account/totp", data={"csrf": csrf}).status_code == 303
    shown = pages.get("/workbench/account")
    qr = shown.text.split('data-testid="qr">', 1)[1]
    assert qr.startswith("<svg") and "<script" not in qr.split("</figure>", 1)[0]
    secret = qr.split('<code class="secret">', 1)[1].split("</code>", 1)[0]
    bad = pages.post("/workbench/account/totp/confirm", data={"csrf": csrf, "totp": "000000"})
    assert bad.status_code == 303  # back, with the refusal
    code = pyotp.TOTP(secret).at(world.clock.now)
    done = pages.post("/workbench/account/totp/confirm", data={"csrf": csrf, "totp": code})
    assert done.status_code == 200 and done.text.count("<li><code>") == 8
    r = pages.post("/workbench/account/password", data={
        "csrf": csrf, "current_password": made.password, "new_password": "a new long passphrase 3"})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith("/workbench/sign-in")
    assert pages.get("/workbench").status_code == 303  # signed out by the new password
    office_pages = TestClient(world.client.app, follow_redirects=False)
    csrf_cookie = office_pages.get("/workbench/sign-in").cookies["tg_csrf"]
    office_pages.cookies.set("tg_csrf", csrf_cookie)
    r = office_pages.post("/workbench/sign-in", data={"csrf": csrf_cookie, "token": office[1]})
    office_pages.cookies.set("tg_session", r.cookies["tg_session"])
    assert "no person" in office_pages.get("/workbench/account?lang=en").text
