"""Reads that may lag go to DATABASE_READ_URL's replica while it is within its bounds and
answers, else the primary (service.kit.replica), on SQLite and PostgreSQL, without a cluster:
the "replica" here is a second database that lacks what the primary has since gained (as a
replica behind would), and its lag is whatever the test says (a fake lag source). Where a page
or the disclosure read is told by what it shows. The integration test against a real streaming
replica is tests/integration/test_streaming_replica.py."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.app import create_app
from service.config import Settings
from service.kit.replica import WROTE_COOKIE, Lag, Reads
from tests import factories
from tests.conftest import drop_pg_database, migrated_engine, new_database

MB = 1024 * 1024


@dataclass
class FakeLag:
    lag: Lag | None = field(default_factory=lambda: Lag(seconds=0.5, bytes=4096))
    down: bool = False
    calls: int = 0

    def __call__(self) -> Lag | None:
        self.calls += 1
        if self.down:
            raise ConnectionError("the replica does not answer")
        return self.lag


@pytest.fixture
def replica_engine(backend: str, tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    """An empty migrated database standing for a replica far behind the primary."""
    url = new_database(backend, str(tmp_path))
    eng = migrated_engine(url)
    yield eng
    eng.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


@dataclass
class Setup:
    client: TestClient
    lag: FakeLag
    reads: Reads
    credit_code: str
    token: str
    institution_id: str


@pytest.fixture
def setup(fresh_engine: Engine, replica_engine: Engine, settings: Settings) -> Iterator[Setup]:
    lag = FakeLag()
    reads = Reads(fresh_engine, replica_engine, lag=lag, check_every=0)
    app = create_app(settings, engine=fresh_engine, reads=reads)
    bank = factories.bank(fresh_engine)
    _, token = factories.regulator(fresh_engine, "220000")
    body = factories.institution_body(bank.id, region="220102")
    with TestClient(app, raise_server_exceptions=False) as c:
        made = c.post("/api/v1/institutions", json=body, headers=factories_bearer(token))
        assert made.status_code == 201, made.text
        yield Setup(c, lag, reads, body["credit_code"], token, made.json()["id"])


def factories_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _disclosed(s: Setup) -> int:
    return s.client.get(f"/api/v1/public/institutions/{s.credit_code}").status_code


def test_within_its_bounds_the_replica_answers_the_public_disclosure(setup: Setup) -> None:
    assert _disclosed(setup) == 404  # the replica has not seen the institution yet
    ready = setup.client.get("/readyz").json()["read_replica"]
    assert ready == {"configured": True, "used": True, "lag_seconds": 0.5}


@pytest.mark.parametrize(
    ("lag", "why"),
    [
        (Lag(seconds=30.5, bytes=100), "too many seconds behind"),
        (Lag(seconds=1, bytes=10 * MB + 1), "too many bytes behind"),
        (None, "not a replica (promoted, or not in recovery)"),
    ],
)
def test_a_replica_beyond_a_bound_is_not_used(setup: Setup, lag: Lag | None, why: str) -> None:
    setup.lag.lag = lag
    assert _disclosed(setup) == 200, why  # the primary answered
    ready = setup.client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["read_replica"]["used"] is False
    assert ready["read_replica"]["lag_seconds"] == (None if lag is None else lag.seconds)


def test_at_the_bounds_exactly_the_replica_is_still_used(setup: Setup) -> None:
    setup.lag.lag = Lag(seconds=30, bytes=10 * MB)
    assert _disclosed(setup) == 404


def test_a_replica_that_does_not_answer_is_not_used_and_the_service_stays_ready(
    setup: Setup,
) -> None:
    setup.lag.down = True
    assert _disclosed(setup) == 200
    ready = setup.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["read_replica"] == {"configured": True, "used": False, "lag_seconds": None}
    setup.lag.down = False  # back: used again at the next measurement
    assert _disclosed(setup) == 404


def test_without_a_replica_the_primary_answers_and_readyz_says_so(
    client: TestClient,
) -> None:
    assert client.get("/readyz").json()["read_replica"] == {
        "configured": False,
        "used": False,
        "lag_seconds": None,
    }


def test_the_lag_is_measured_at_most_once_a_check_interval(
    fresh_engine: Engine, replica_engine: Engine
) -> None:
    lag = FakeLag()
    at = [0.0]
    reads = Reads(fresh_engine, replica_engine, lag=lag, check_every=1.0, monotonic=lambda: at[0])
    for _ in range(5):
        reads.pick()
    assert lag.calls == 1
    at[0] = 1.5
    lag.lag = Lag(seconds=99, bytes=0)
    factory, fresh = reads.pick()
    assert lag.calls == 2 and factory is None and not fresh.replica


def _signed_in(c: TestClient, token: str) -> None:
    c.get("/workbench/sign-in")
    c.post("/workbench/sign-in", data={"token": token, "csrf": c.cookies["tg_csrf"]})


def test_pages_read_the_replica_and_say_how_current_their_figures_are(setup: Setup) -> None:
    c = setup.client
    _signed_in(c, setup.token)  # signing in is read and written on the primary
    c.cookies.delete(WROTE_COOKIE)
    setup.lag.lag = Lag(seconds=12.2, bytes=2048)
    page = c.get("/workbench/institutions?lang=en")
    assert page.status_code == 200, page.text[:300]
    assert setup.credit_code not in page.text  # the replica has not seen it
    assert "read from a replica 13 s behind the primary" in page.text
    zh = c.get("/workbench/institutions?lang=zh").text
    assert "只读副本" in zh and "13 秒" in zh

    setup.lag.lag = Lag(seconds=45, bytes=2048)  # beyond the bound: the primary's figures
    page = c.get("/workbench/institutions?lang=en")
    assert setup.credit_code in page.text
    assert 'data-testid="freshness"' in page.text and "read from a replica" not in page.text


def test_after_a_form_the_browser_that_wrote_reads_the_primary(setup: Setup) -> None:
    c = setup.client
    _signed_in(c, setup.token)
    assert WROTE_COOKIE not in c.cookies
    page = f"/workbench/institutions/{setup.institution_id}"
    assert c.get(page).status_code == 404  # the replica does not know it yet
    setup.lag.lag = None  # the primary answers this once, for the form's CSRF token
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get(page).text)
    assert csrf
    setup.lag.lag = Lag(seconds=0.5, bytes=10)
    posted = c.post(f"{page}/freeze", data={"csrf": csrf.group(1), "reason": "检查"},
                    follow_redirects=False)  # fmt: skip
    assert posted.status_code == 303
    # The form's answer marks this browser as one that wrote: its pages read the primary,
    # for as long as a replica within the bound may still lack the write.
    assert WROTE_COOKIE in c.cookies
    assert f"Max-Age={30}" in posted.headers["set-cookie"]
    assert c.get(page).status_code == 200
    c.cookies.delete(WROTE_COOKIE)
    assert c.get(page).status_code == 404


def test_without_a_replica_no_browser_is_marked(client: TestClient, engine: Engine) -> None:
    _, token = factories.regulator(engine, "220400")
    _signed_in(client, token)
    assert WROTE_COOKIE not in client.cookies
    page = client.get("/workbench?lang=en")
    assert page.status_code == 200 and 'data-testid="freshness"' in page.text
    assert "read from a replica" not in page.text
