"""`GET /working-days` (docs/api.md "Rule packs and working days"), on both databases."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.fees.working_days import MAX_COUNT
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_plumbing import assert_problem
from tests.unit.test_working_days import UNPUBLISHED


def _at(instant: str) -> str:
    return quote(instant, safe="")


def test_a_regulator_counts_across_national_day(client: TestClient, engine: Engine) -> None:
    _, token = factories.regulator(engine, "220000")
    r = client.get(
        f"/api/v1/working-days?region_code=220102&from={_at('2026-09-30T18:00:00+08:00')}&count=7",
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "from": "2026-09-30T18:00:00+08:00",
        "count": 7,
        "date": "2026-10-15T18:00:00+08:00",
        "provisional": False,
    }


@pytest.mark.parametrize(
    ("count", "date"),
    [
        (1, "2026-02-14T10:00:00+08:00"),  # Saturday 14 February, a make-up working day
        (2, "2026-02-24T10:00:00+08:00"),  # 15 to 23 February off
        (6, "2026-02-28T10:00:00+08:00"),  # Saturday 28 February, worked too
        (7, "2026-03-02T10:00:00+08:00"),
    ],
)
def test_a_count_across_the_spring_festival(
    client: TestClient, engine: Engine, count: int, date: str
) -> None:
    _, token = factories.regulator(engine, "330000")
    start = "2026-02-13T10:00:00+08:00"
    r = client.get(
        f"/api/v1/working-days?region_code=330106&from={_at(start)}&count={count}",
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"from": start, "count": count, "date": date, "provisional": False}


def test_an_institution_counts_in_its_own_region_by_default(
    client: TestClient, engine: Engine
) -> None:
    bank = factories.bank(engine)
    _, key = factories.institution(engine, bank.id)
    # 20:00 UTC on 30 September is 04:00 on 1 October in Beijing: the count starts there.
    r = client.get(
        f"/api/v1/working-days?from={_at('2026-09-30T20:00:00Z')}&count=7", headers=bearer(key)
    )
    assert r.status_code == 200, r.text
    assert r.json()["date"] == "2026-10-15T04:00:00+08:00"
    # A make-up Saturday is a working day: Friday 9 October plus one is Saturday 10 October.
    r = client.get(
        f"/api/v1/working-days?from={_at('2026-10-09T09:00:00+08:00')}&count=1",
        headers=bearer(key),
    )
    assert r.json()["date"] == "2026-10-10T09:00:00+08:00"


def test_a_count_into_an_unpublished_year_is_provisional(
    client: TestClient, engine: Engine
) -> None:
    _, token = factories.regulator(engine, "220000")
    start = f"{UNPUBLISHED - 1}-12-30T09:00:00+08:00"
    body = client.get(
        f"/api/v1/working-days?from={_at(start)}&count=3", headers=bearer(token)
    ).json()
    assert body["date"].startswith(f"{UNPUBLISHED}-01-") and body["provisional"] is True
    body = client.get(
        f"/api/v1/working-days?from={_at(start)}&count=1", headers=bearer(token)
    ).json()
    assert body == {
        "from": start,
        "count": 1,
        "date": start.replace("-30T", "-31T"),
        "provisional": False,
    }


def test_without_a_credential_it_is_401(client: TestClient) -> None:
    assert_problem(
        client.get(f"/api/v1/working-days?from={_at('2026-09-30T18:00:00+08:00')}&count=7"),
        401,
        "unauthenticated",
    )


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("count=7", "validation_error"),  # no from
        (f"from={_at('2026-09-30T18:00:00+08:00')}", "validation_error"),  # no count
        ("from=2026-09-30T18:00:00&count=7", "validation_error"),  # no offset
        (f"from={_at('2026-02-30T18:00:00+08:00')}&count=7", "validation_error"),
        (f"from={_at('9999-12-31T18:00:00+08:00')}&count=7", "validation_error"),
        (f"from={_at('1970-01-01T00:00:00+08:00')}&count=7", "validation_error"),
        ("from=2026-09-30%00&count=7", "validation_error"),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count=-1", "validation_error"),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count={MAX_COUNT + 1}", "validation_error"),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count={10**40}", "validation_error"),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count=1e3", "validation_error"),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count=7%00", "validation_error"),
        (f"from={_at('2099-06-01T18:00:00+08:00')}&count={MAX_COUNT}", "calendar_out_of_range"),
        (
            f"from={_at('2026-09-30T18:00:00+08:00')}&count=7&region_code=999999",
            "invalid_region_code",
        ),
        (
            f"from={_at('2026-09-30T18:00:00+08:00')}&count=7&region_code=22010%00",
            "validation_error",
        ),
        (f"from={_at('2026-09-30T18:00:00+08:00')}&count=7&days=3", "validation_error"),
    ],
)
def test_bad_input_is_a_422_problem(
    client: TestClient, engine: Engine, query: str, code: str
) -> None:
    _, token = factories.regulator(engine, "220000")
    assert_problem(client.get(f"/api/v1/working-days?{query}", headers=bearer(token)), 422, code)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.one_of(
        st.text(max_size=30),
        st.sampled_from(["0001-01-01T00:00:00+14:00", "2099-12-31T23:59:59-14:00",
                         "2099-12-31T23:59:59+08:00", "2000-01-01T00:00:00+14:00"]),
    ),
    count=st.one_of(st.integers(), st.text(max_size=12)),
)  # fmt: skip
def test_no_query_gets_a_5xx(client: TestClient, engine: Engine, start: str, count: object) -> None:
    _, token = factories.regulator(engine, "220000")
    r = client.get(
        "/api/v1/working-days", params={"from": start, "count": str(count)}, headers=bearer(token)
    )
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.headers["content-type"].startswith("application/problem+json")
