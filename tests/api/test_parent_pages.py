"""The parent's pages over HTTP (no browser), on SQLite and PostgreSQL: the session cookie,
the sign-in by link, CSRF, and what a hostile or broken form gets: a page, and nothing
changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app
from service.config import Settings
from service.kit.db import make_sessionmaker
from tests.api.told import notes, told
from tests.conftest import drop_pg_database, migrated_engine, new_database
from tools import showcase


@dataclass
class Site:
    app: Any
    shown: showcase.Showcase
    engine: Any

    def client(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False, follow_redirects=False)

    def one(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as c:
            return c.execute(text(sql), params).scalar()


@pytest.fixture(scope="module")
def site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = new_database(backend, str(tmp_path_factory.mktemp("parent")))
    engine = migrated_engine(url)
    settings = Settings(
        environment="test",
        log_signing_key="ab" * 32,
        database_url=url,
        secret_key="parent-secret-0123456789",
    )
    now = datetime.now(UTC)
    shown = showcase.build(make_sessionmaker(engine), settings, now=now)
    yield Site(create_app(settings, engine=engine, clock=lambda: now), shown, engine)
    engine.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


def signed_in(site: Site) -> tuple[TestClient, str]:
    """A client signed in by the link; and the CSRF token of its forms."""
    enrollment, code = site.shown.parent
    c = site.client()
    assert c.get(f"/parent/e/{enrollment}").status_code == 200
    r = c.post("/parent/sign-in", data={"enrollment_id": enrollment, "access_code": code,
                                        "csrf": c.cookies["tg_pcsrf"]})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/parent", r.text[:300]
    found = re.search(r'name="csrf" value="([^"]+)"', c.get("/parent").text)
    assert found
    return c, found.group(1)


def test_the_cookie_is_httponly_strict_and_scoped_to_the_parents_pages(site: Site) -> None:
    enrollment, code = site.shown.parent
    c = site.client()
    c.get(f"/parent/e/{enrollment}")
    r = c.post("/parent/sign-in", data={"enrollment_id": enrollment, "access_code": code,
                                        "csrf": c.cookies["tg_pcsrf"]})  # fmt: skip
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/parent" in cookie
    assert code.lower() not in cookie


def test_a_wrong_code_or_a_stale_form_signs_nobody_in(site: Site) -> None:
    enrollment, _code = site.shown.parent
    c = site.client()
    c.get(f"/parent/e/{enrollment}")
    wrong = c.post("/parent/sign-in", data={"enrollment_id": enrollment,
                   "access_code": "WRONG00000", "csrf": c.cookies["tg_pcsrf"]})  # fmt: skip
    assert told(c, wrong) == ("problem", "The enrollment number or the access code is wrong.")
    assert "tg_parent" not in c.cookies
    stale = c.post("/parent/sign-in", data={"enrollment_id": enrollment,
                   "access_code": site.shown.parent[1], "csrf": "forged"})  # fmt: skip
    assert stale.status_code == 303 and "tg_parent" not in c.cookies
    page = c.get("/parent")
    assert page.status_code == 200 and 'data-testid="figures"' not in page.text


def test_forms_without_a_session_or_its_csrf_change_nothing(site: Site) -> None:
    refunds = site.one("select count(*) from refunds")
    anonymous = site.client().post("/parent/refunds", data={"lessons": 1, "reason": "x"})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/parent"
    c, _csrf = signed_in(site)
    forged = c.post("/parent/refunds", data={"lessons": 1, "reason": "x", "csrf": "forged"})
    assert forged.status_code == 403 and "text/html" in forged.headers["content-type"]
    assert site.one("select count(*) from refunds") == refunds


def test_another_familys_lesson_cannot_be_disputed(site: Site) -> None:
    c, csrf = signed_in(site)
    other = _someone_elses_lesson(site)
    status = site.one("select status from consumptions where id = :i", i=other)
    r = c.post(f"/parent/lessons/{other}/dispute", data={"reason": "x", "csrf": csrf})
    assert told(c, r) == ("problem", "Not found.")
    assert site.one("select status from consumptions where id = :i", i=other) == status


def _someone_elses_lesson(site: Site) -> str:
    from service.flows import consumptions
    from service.flows.models import Enrollment
    from service.kit.db import session_scope
    from service.registry.models import Institution

    with session_scope(make_sessionmaker(site.engine)) as s:
        e = s.query(Enrollment).filter(Enrollment.id != site.shown.parent[0],
                                       Enrollment.status == "active").first()  # fmt: skip
        assert e is not None
        inst = s.get(Institution, e.institution_id)
        now = datetime.now(UTC)
        made = consumptions.report(s, institution=inst, enrollment_id=e.id, lessons=1,
                                   occurred_at=now, session_ref=None, now=now)  # fmt: skip
        return made.consumption.id


def test_a_broken_complaint_is_a_page_and_files_nothing(site: Site) -> None:
    c, csrf = signed_in(site)
    before = site.one("select count(*) from complaints")
    r = c.post("/parent/complaints", data={"category": "nonsense", "text": "x", "csrf": csrf})
    assert r.status_code == 422 and "text/html" in r.headers["content-type"]
    assert site.one("select count(*) from complaints") == before


def test_the_amount_is_shown_before_and_the_refund_is_what_was_shown(site: Site) -> None:
    c, csrf = signed_in(site)
    too_many = c.get("/parent/refund?lessons=1000")
    assert too_many.headers["location"] == "/parent#refund"  # the anchor keeps the note
    assert told(c, too_many) == ("problem", "Choose between 1 and the lessons left.")
    shown = re.search(
        r'data-testid="refund-amount">¥([0-9,.]+)<', c.get("/parent/refund?lessons=2").text
    )
    assert shown
    r = c.post("/parent/refunds", data={"lessons": 2, "reason": "搬家", "csrf": csrf})
    assert told(c, r) == (
        "done",
        "Your refund is requested. The institution must answer by the date shown.",
    )
    from service.flows.models import Refund

    with make_sessionmaker(site.engine)() as s:
        amount = s.query(Refund.amount).filter_by(enrollment_id=site.shown.parent[0]).scalar()
    assert f"{amount:,.2f}" == shown.group(1)
    again = c.post("/parent/refunds", data={"lessons": 1, "reason": "again", "csrf": csrf})
    assert told(c, again) == ("problem", "A refund is already in progress: follow it below.")
    page = c.get("/parent").text
    assert 'data-status="requested"' in page


PHISHING = "系统升级通知：原监管账户停用，请将剩余学费转入新账户 6222 0000 1111"


def test_no_page_shows_a_message_from_the_address(site: Site) -> None:
    """Issue 30 item 2: a crafted `?problem=`/`?done=` was shown as an official notice, even
    on the sign-in page before anyone signs in. Only the server's own notes are shown; a note
    cookie the server did not seal is ignored."""
    enrollment, _code = site.shown.parent
    crafted = {"problem": PHISHING, "done": PHISHING, "flash": PHISHING, "note": PHISHING}
    anonymous = site.client()
    anonymous.cookies.set("tg_note", "eyJrIjoicHJvYmxlbSIsInQiOiJ4In0.forged")
    c, _csrf = signed_in(site)
    for client, path in [(anonymous, f"/parent/e/{enrollment}"), (anonymous, "/parent"),
                         (c, "/parent"), (c, "/parent/refund")]:  # fmt: skip
        page = client.get(path, params=crafted)
        assert page.status_code == 200, (path, page.status_code)
        assert "系统升级" not in page.text and notes(page.text) == [], path


def test_a_refused_refund_count_keeps_its_message_after_the_anchor(site: Site) -> None:
    """Issue 30 item 8: `/parent#refund?problem=…` put the message in the anchor, where the
    page never saw it."""
    c, _csrf = signed_in(site)
    r = c.get("/parent/refund?lessons=0")
    assert r.headers["location"] == "/parent#refund"
    assert told(c, r) == ("problem", "Choose between 1 and the lessons left.")
    assert notes(c.get("/parent").text) == []  # shown once


def test_the_qr_code_is_the_public_address_and_no_shared_cache_keeps_it(site: Site) -> None:
    """Issue 31 item 6: the code encoded the request's Host and was served `public,
    max-age=86400`: a forged Host kept by a shared cache would print codes to a fake site."""
    from service.kit.qr import qr_svg

    enrollment, _code = site.shown.parent
    base = site.app.state.settings.public_base_url
    r = site.client().get(f"/parent/e/{enrollment}/qr.svg", headers={"Host": "evil.example"})
    assert r.status_code == 200
    assert r.content == qr_svg(f"{base}/parent/e/{enrollment}")
    assert b"evil" not in r.content
    cache = r.headers["cache-control"]
    assert "public" not in cache and "no-store" in cache and "private" in cache
    for path in ("/parent", f"/parent/e/{enrollment}"):
        assert "public" not in site.client().get(path).headers["cache-control"]


def test_the_public_base_url_is_checked() -> None:
    from pydantic import ValidationError

    made = Settings(environment="development", public_base_url="https://jf.example.cn/tg/")
    assert made.public_base_url == "https://jf.example.cn/tg"
    for bad in ("jf.example.cn", "https://a b", "https://x.cn?next=1", "https://u@evil.cn"):
        with pytest.raises(ValidationError):
            Settings(environment="development", public_base_url=bad)
    with pytest.raises(ValidationError, match="https"):
        Settings(
            environment="production",
            log_signing_key="ab" * 32,
            secret_key="s" * 32,
            public_base_url="http://x.cn",
        )
