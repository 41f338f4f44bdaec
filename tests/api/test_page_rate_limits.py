"""The rate limit and the pages' sessions, on SQLite and PostgreSQL (issue 31, finding 1, as an
attacker found it after the fix): a signed-in regulator on the workbench and a signed-in
parent on their pages are authenticated callers with buckets of their own, like the API's
bearer callers, not their address's. Before, a page session was never vouched for, so every
page request spent the client address's bucket: anyone flooding from a parent's mobile
network (or a regulator's office NAT) with anonymous requests made every signed-in page there
429."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.api.conftest import bearer
from tests.conftest import drop_pg_database, migrated_engine, new_database
from tools import showcase

BURST = 12


@pytest.fixture
def limited(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, showcase.Showcase]]:
    """The demo's showcase behind a limit refilled so slowly that nothing comes back while
    the test runs."""
    url = new_database(backend, str(tmp_path_factory.mktemp("limits")))
    engine = migrated_engine(url)
    settings = Settings(environment="test", log_signing_key="ab" * 32, database_url=url,
                        secret_key="limits-secret-0123456789",
                        rate_limit_per_second=0.001, rate_limit_burst=BURST)  # fmt: skip
    from datetime import UTC, datetime

    from service.kit.db import make_sessionmaker

    now = datetime.now(UTC)
    shown = showcase.build(make_sessionmaker(engine), settings, now=now)
    app = create_app(settings, engine=engine, clock=lambda: now)
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c, shown
    engine.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


def _flood(c: TestClient) -> None:
    """A stranger at the same address spends the address's whole bucket."""
    c.cookies.clear()
    codes = [c.get("/api/v1/banks", headers=bearer(f"tgr_{uuid.uuid4().hex}")).status_code
             for _ in range(BURST + 2)]  # fmt: skip
    assert codes[-1] == 429, codes


def test_a_signed_in_parent_is_not_held_back_by_a_flood_from_their_address(
    limited: tuple[TestClient, showcase.Showcase],
) -> None:
    c, shown = limited
    enrollment, code = shown.parent
    assert c.get(f"/parent/e/{enrollment}").status_code == 200
    r = c.post("/parent/sign-in", data={"enrollment_id": enrollment, "access_code": code,
                                        "csrf": c.cookies["tg_pcsrf"]})  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/parent", r.text[:300]
    parent_cookie = c.cookies["tg_parent"]
    _flood(c)
    c.cookies.set("tg_parent", parent_cookie)
    assert [c.get("/parent").status_code for _ in range(3)] == [200] * 3
    # A made-up parent cookie is a stranger: the address's bucket, which is empty.
    c.cookies.set("tg_parent", "tgp_" + uuid.uuid4().hex)
    forged = c.get("/parent")
    assert forged.status_code == 429


def test_a_signed_in_regulator_is_not_held_back_by_a_flood_from_their_office(
    limited: tuple[TestClient, showcase.Showcase],
) -> None:
    c, shown = limited
    c.get("/workbench/sign-in")
    r = c.post("/workbench/sign-in", data={"token": next(iter(shown.tokens.values())),
                                           "csrf": c.cookies["tg_csrf"], "next": "/workbench"})  # fmt: skip
    assert r.status_code == 303, r.text[:300]
    session_cookie = c.cookies["tg_session"]
    _flood(c)
    c.cookies.set("tg_session", session_cookie)
    pages = [c.get("/workbench/institutions") for _ in range(3)]
    assert [p.status_code for p in pages] == [200] * 3
    assert re.search(r'name="csrf"', pages[-1].text)
    c.cookies.set("tg_session", uuid.uuid4().hex)
    forged = c.get("/workbench/institutions")
    assert forged.status_code == 429
