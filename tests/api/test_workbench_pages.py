"""The workbench's pages over HTTP (no browser), on SQLite and PostgreSQL: the session (its
cookie, expiry, CSRF, an ended credential), what a hostile or broken form gets, and every
action of the pages refused for another region's objects with nothing changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from service.app import create_app
from service.config import Settings
from service.kit.db import make_sessionmaker
from service.pages.workbench.common import SUBMITTED
from service.registry.models import AuditEvent
from tests.api.approving import approve_pending, office_of_region
from tests.api.told import notes, told
from tests.conftest import drop_pg_database, migrated_engine, new_database
from tools import showcase


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    app: Any
    clock: Clock
    shown: showcase.Showcase
    engine: Any

    def client(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)

    def audit_count(self) -> int:
        with make_sessionmaker(self.engine)() as s:
            return int(s.scalar(select(func.count()).select_from(AuditEvent)) or 0)


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = new_database(backend, str(tmp_path_factory.mktemp("pages")))
    engine = migrated_engine(url)
    settings = Settings(
        environment="test",
        log_signing_key="ab" * 32,
        database_url=url,
        secret_key="pages-secret-0123456789",
    )
    clock = Clock(datetime.now(UTC))
    shown = showcase.build(make_sessionmaker(engine), settings, now=clock.now)
    yield Site(create_app(settings, engine=engine, clock=clock), clock, shown, engine)
    engine.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


def sign_in(c: TestClient, token: str) -> str:
    """Signs `c` in; returns the session's CSRF token (from a page's form)."""
    c.get("/workbench/sign-in")
    r = c.post(
        "/workbench/sign-in",
        data={"token": token, "csrf": c.cookies["tg_csrf"], "next": "/workbench"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/workbench", r.text[:300]
    page = c.get("/workbench/institutions")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_the_session_cookie_is_httponly_samesite_and_carries_no_token(site: Site) -> None:
    c = site.client()
    c.get("/workbench/sign-in")
    r = c.post("/workbench/sign-in", data={"token": site.shown.tokens["220100"],
                                           "csrf": c.cookies["tg_csrf"]})  # fmt: skip
    cookie = r.headers["set-cookie"]
    assert "tg_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert site.shown.tokens["220100"] not in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS the cookie is Secure


def test_sign_in_needs_its_form_token_and_goes_only_to_this_site(site: Site) -> None:
    c = site.client()
    c.get("/workbench/sign-in")
    token = site.shown.tokens["220100"]
    forged = c.post("/workbench/sign-in", data={"token": token, "csrf": "made-up"})
    assert told(c, forged) == ("problem", "The form is stale: try again.")
    assert "tg_session" not in c.cookies
    away = c.post("/workbench/sign-in", data={"token": token, "csrf": c.cookies["tg_csrf"],
                                              "next": "//evil.example/x"})  # fmt: skip
    assert away.headers["location"] == "/workbench"


def test_a_session_ends_after_a_working_day(site: Site) -> None:
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    assert c.get("/workbench").status_code == 200
    saved = site.clock.now
    try:
        site.clock.now = saved + timedelta(hours=10, minutes=1)
        r = c.get("/workbench/institutions?level=high")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/workbench/sign-in?next=/workbench/institutions")
    finally:
        site.clock.now = saved


def test_a_reissued_token_ends_the_sessions_opened_with_the_old_one(site: Site) -> None:
    c = site.client()
    sign_in(c, site.shown.tokens["220000"])
    assert c.get("/workbench").status_code == 200
    with site.engine.begin() as conn:
        old = conn.execute(
            text("SELECT token_hash FROM regulators WHERE region_code = '220000'")
        ).scalar_one()
        conn.execute(
            text("UPDATE regulators SET token_hash = :h WHERE region_code = '220000'"),
            {"h": "f" * 64},
        )
    try:
        assert c.get("/workbench").status_code == 303
    finally:
        with site.engine.begin() as conn:
            conn.execute(
                text("UPDATE regulators SET token_hash = :h WHERE region_code = '220000'"),
                {"h": old},
            )


def test_a_form_without_the_sessions_csrf_token_is_forbidden(site: Site) -> None:
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    before = site.audit_count()
    inst = site.shown.institutions["overdue"]
    r = c.post(f"/workbench/institutions/{inst}/freeze", data={"reason": "x", "csrf": "nope"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert site.audit_count() == before


def test_a_broken_form_gets_a_page_not_a_problem_and_changes_nothing(site: Site) -> None:
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    before = site.audit_count()
    inst = site.shown.institutions["overdue"]
    missing = c.post(f"/workbench/institutions/{inst}/freeze", data={"csrf": csrf})
    assert missing.status_code == 422 and "<h1>" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    bad_day = c.post(f"/workbench/alerts/{site.shown.case}/snooze",
                     data={"csrf": csrf, "until": "2026-02-30", "reason": "x"})  # fmt: skip
    assert bad_day.status_code == 422
    outcome = c.post(f"/workbench/alerts/{site.shown.case}/close",
                     data={"csrf": csrf, "outcome": "bribed", "note": "x"})  # fmt: skip
    assert (told(c, outcome) or ("", ""))[0] == "problem"
    assert site.audit_count() == before
    assert c.get("/workbench/no-such-page").status_code == 404


def test_a_refused_use_case_leaves_nothing_behind(site: Site) -> None:
    """A rule change whose value does not fit its knob is refused whole (the savepoint)."""
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    before = site.audit_count()
    r = c.post("/workbench/rules", data={
        "csrf": csrf, "region_code": "220100", "knob": "refund_overdue:weight",
        "value": "-5", "effective_from": site.clock.now.date().isoformat(), "reason": "x"})  # fmt: skip
    assert (told(c, r) or ("", ""))[0] == "problem"
    assert site.audit_count() == before


def _other_regions_actions(site: Site) -> list[tuple[str, dict[str, str]]]:
    inst, case = site.shown.institutions["critical"], site.shown.case
    return [
        (f"/workbench/institutions/{inst}/freeze", {"reason": "x"}),
        (f"/workbench/institutions/{inst}/unfreeze", {"reason": "x"}),
        (f"/workbench/institutions/{inst}/raise", {"note": "x"}),
        (f"/workbench/alerts/{case}/claim", {}),
        (f"/workbench/alerts/{case}/acknowledge", {"note": "x"}),
        (f"/workbench/alerts/{case}/snooze", {"until": "2099-01-01", "reason": "x"}),
        (f"/workbench/alerts/{case}/escalate", {"reason": "x"}),
        (f"/workbench/alerts/{case}/close", {"outcome": "handled", "note": "x"}),
    ]


def test_another_regions_objects_are_not_found_by_page_or_by_form(site: Site) -> None:
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220300"])  # Siping; the objects are Changchun's
    before = site.audit_count()
    for path in (
        f"/workbench/institutions/{site.shown.institutions['critical']}",
        f"/workbench/alerts/{site.shown.case}",
    ):
        r = c.get(path)
        assert r.status_code == 404 and "南关区" not in r.text, path
    for path, body in _other_regions_actions(site):
        r = c.post(path, data={**body, "csrf": csrf})
        assert r.status_code == 404, (path, r.status_code)
    assert site.audit_count() == before
    listed = c.get("/workbench/institutions").text
    assert "铁西区明德艺术培训学校" in listed and "南关区" not in listed
    csv = c.get("/workbench/institutions.csv").text
    assert "铁西区" in csv and "南关区" not in csv
    audit = c.get("/workbench/audit.csv").text
    assert site.shown.institutions["critical"] not in audit


def test_a_threshold_changed_on_the_page_takes_effect_on_its_day_and_is_audited(
    site: Site,
) -> None:
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    before = site.audit_count()
    tomorrow = (site.clock.now + timedelta(days=2)).date().isoformat()
    r = c.post("/workbench/rules", data={
        "csrf": csrf, "region_code": "220100", "knob": "refund_overdue:weight", "value": "25",
        "effective_from": tomorrow, "reason": "本市退费投诉增多"})  # fmt: skip
    assert told(c, r) == ("done", SUBMITTED)  # four eyes: the request is audited
    assert site.audit_count() == before + 1
    office = office_of_region(site.engine, "220100")
    results = approve_pending(site.engine, office, now=lambda: site.clock.now)
    assert [x and x["ok"] for x in results] == [True]
    # The supervisor made for it, the approval, and the change it made.
    assert site.audit_count() == before + 4
    page = c.get("/workbench/rules").text
    assert "本市退费投诉增多" in page and tomorrow in page  # in the history, with its day
    row = page[page.index('id="refund_overdue"') :].split("</tr>", 1)[0]
    assert "<strong>15</strong>" in row  # not yet: it takes effect on its day
    saved = site.clock.now
    try:
        site.clock.now = saved + timedelta(days=3)
        csrf = sign_in(c, site.shown.tokens["220100"])
        row = c.get("/workbench/rules").text.split('id="refund_overdue"', 1)[1].split("</tr>")[0]
        assert "<strong>25</strong>" in row
    finally:
        site.clock.now = saved


def test_no_workbench_page_shows_a_message_from_the_address(site: Site) -> None:
    """Issue 30 item 2: `?problem=`/`?done=` were shown in the alert box, signed in or not;
    and a path's text was echoed in a not-found page. Only the server's own notes show."""
    phishing = "系统升级通知：请将剩余学费转入新账户"
    crafted = {"problem": phishing, "done": phishing}
    anonymous = site.client()
    page = anonymous.get("/workbench/sign-in", params=crafted)
    assert page.status_code == 200 and phishing not in page.text and notes(page.text) == []
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    from service.pages import workbench

    pages = sorted(
        r.path for router in workbench.ROUTERS for r in router.routes
        if "GET" in getattr(r, "methods", ()) and "{" not in r.path
        and not r.path.endswith(".csv")
    )  # fmt: skip
    assert len(pages) >= 8, pages  # every page of the workbench, whatever is added later
    for path in pages:
        page = c.get(path, params=crafted)
        admins_only = path == "/workbench/officers"  # the office's token is no admin
        national = path.startswith("/workbench/national")  # the national office's (100000) only
        assert page.status_code == (403 if admins_only else 404 if national else 200), path
        assert phishing not in page.text and notes(page.text) == [], path
    echoed = c.get(f"/workbench/alerts/{phishing}")
    assert echoed.status_code == 404 and phishing not in echoed.text.split('id="main"')[1]
