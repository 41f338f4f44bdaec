"""What a browser notices before reading a page: its title, its icon, its size on the wire; and
the overview's table of scheduled checks on a region where none has run yet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.api.compression import compressible
from service.app import create_app
from service.config import Settings
from service.jobs.catalog import JOBS, next_run
from service.kit.clock import SHANGHAI
from service.pages.labels import KINDS
from tests import factories

PAGES = ("/", "/?lang=en", "/parent", "/parent?lang=en", "/workbench/sign-in")


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found, html[:200]
    return found.group(1).strip()


@pytest.mark.parametrize("path", PAGES)
def test_no_page_title_says_a_thing_twice(client: TestClient, path: str) -> None:
    parts = _title(client.get(path).text).split(" · ")
    assert len(parts) == len(set(parts)), parts
    assert {"TuitionGuard", "学费卫士"} & set(parts), parts  # the brand, once


def test_the_pages_have_an_icon(client: TestClient) -> None:
    page = client.get("/").text
    href = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert href and href.group(1) == "/static/favicon.svg"
    for path in (href.group(1), "/favicon.ico"):
        icon = client.get(path)
        assert icon.status_code == 200, path
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.content.startswith(b"<svg")
    assert client.get("/static/other.svg").status_code == 404


def test_pages_and_their_assets_travel_gzipped(client: TestClient) -> None:
    for path in ("/", "/static/style.css", "/static/vendor/redoc/redoc.standalone.js"):
        r = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200, path
        assert r.headers.get("content-encoding") == "gzip", path
        assert "accept-encoding" in r.headers.get("vary", "").lower(), path
    plain = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and "<html" in plain.text


def test_the_api_and_pages_opened_from_another_site_are_never_compressed(
    client: TestClient, engine: Engine
) -> None:
    """An API answer (credentials next to a caller's text) and a page another site made the
    browser ask for are sent as they are: what a compression-length attack needs is missing."""
    _, token = factories.regulator(engine)
    listed = client.get("/api/v1/institutions?limit=200", headers={
        "Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"})  # fmt: skip
    assert listed.status_code == 200 and "content-encoding" not in listed.headers
    foreign = client.get("/", headers={"Accept-Encoding": "gzip", "Sec-Fetch-Site": "cross-site"})
    assert foreign.status_code == 200 and "content-encoding" not in foreign.headers

    def scope(path: str, site: bytes | None = None) -> dict[str, object]:
        headers = [(b"sec-fetch-site", site)] if site else []
        return {"type": "http", "path": path, "headers": headers}

    assert not compressible(scope("/api/v1/enrollments"))
    assert not compressible(scope("/metrics"))
    assert not compressible(scope("/workbench", b"same-site"))
    assert compressible(scope("/workbench", b"same-origin"))
    assert compressible(scope("/workbench", b"none"))
    assert compressible(scope("/openapi.json"))


@pytest.fixture
def fresh_client(fresh_engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, engine=fresh_engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _signed_in(c: TestClient, engine: Engine, lang: str) -> str:
    _, token = factories.regulator(engine, "220400")
    c.get("/workbench/sign-in")
    c.post("/workbench/sign-in", data={"token": token, "csrf": c.cookies["tg_csrf"]})
    page = c.get(f"/workbench?lang={lang}")
    assert page.status_code == 200, page.text[:300]
    return page.text


def test_the_jobs_table_of_a_fresh_region_says_when_each_check_runs(
    fresh_client: TestClient, fresh_engine: Engine
) -> None:
    """Before any job has run the table lists every job, says it has not run, and when it will
    (was: an empty table and no word of why)."""
    page = _signed_in(fresh_client, fresh_engine, "en")
    section = page[page.index('id="jobs-h"') :]
    section = section[: section.index("</section>")]
    assert "Each check runs by itself on its schedule" in section
    rows = re.findall(r"<tr><td>(.*?)</tr>", section, re.S)
    assert len(rows) == len(JOBS)
    assert all("Not run yet" in r for r in rows)
    for name, job in JOBS.items():
        row = next(r for r in rows if r.startswith(str(KINDS["jobs"][name])))
        if job.trigger["trigger"] == "interval" and "seconds" in job.trigger:
            assert f"Within {job.trigger['seconds']} s" in row  # national_rollups: 15 s
        elif job.trigger["trigger"] == "interval":
            assert f"Within {job.trigger['minutes']} min" in row
        else:
            assert f"{job.trigger['hour']:02d}:{job.trigger.get('minute', 0):02d}" in row
    chinese = _signed_in(fresh_client, fresh_engine, "zh")
    assert "尚未运行" in chinese and "下次运行" in chinese


def test_a_daily_job_runs_next_at_its_hour_beijing_time() -> None:
    daily = {"trigger": "cron", "hour": 2, "minute": 0}
    before = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # 01:00 in Beijing
    assert next_run(daily, before) == datetime(2026, 3, 2, 2, 0, tzinfo=SHANGHAI)
    after = datetime(2026, 3, 1, 19, 0, tzinfo=UTC)  # 03:00 in Beijing: tomorrow's
    assert next_run(daily, after) == datetime(2026, 3, 3, 2, 0, tzinfo=SHANGHAI)
    every = {"trigger": "interval", "minutes": 15}
    assert (next_run(every, before) - before).total_seconds() == 900
