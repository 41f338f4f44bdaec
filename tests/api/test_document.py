"""The document says what the service does (issue 31, conformance): each gap schemathesis
found, closed where it was — the cursor's format, `Allow` naming every caller's methods, C1
control characters refused in every query, days and instants bounded as the document says,
money above zero, a percentage up to 100, blank text, a whole number written 2027.0. On both
databases. The whole document against the whole service: tests/fuzz/test_conformance.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from service.api.deps import CURSOR
from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_flows import World, world  # noqa: F401 - the fixture
from tests.api.test_plumbing import assert_problem


def _schema(w: World, name: str) -> dict[str, Any]:
    return dict(w.client.get("/openapi.json").json()["components"]["schemas"][name])


def test_allow_names_the_methods_of_every_caller(world: World) -> None:  # noqa: F811
    for path, allow in [("/api/v1/courses", "GET, POST"), ("/api/v1/institutions", "GET, POST"),
                        ("/api/v1/courses/check", "POST"), ("/api/v1/parent/refunds", "GET, POST")]:  # fmt: skip
        r = world.client.options(path, headers=bearer(world.reg))
        assert r.status_code == 405 and r.headers["allow"] == allow, (path, r.headers)


def test_a_c1_control_character_is_refused_in_every_query(world: World) -> None:  # noqa: F811
    for path in ("/api/v1/audit-events?institution_id=%C2%84",
                 "/api/v1/statements?institution_id=a%C2%9Fb",
                 "/api/v1/audit-events?actor=a%C2%85"):  # fmt: skip
        assert_problem(world.client.get(path, headers=bearer(world.reg)), 422, "validation_error")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(cursor=st.from_regex(CURSOR, fullmatch=True))
def _any_documented_cursor_is_taken(w: World, cursor: str) -> None:
    for path in ("/api/v1/banks", "/api/v1/audit-events", "/api/v1/risk/alerts"):
        r = w.client.get(f"{path}?cursor={quote(cursor)}", headers=bearer(w.reg))
        assert r.status_code == 200, (path, cursor, r.text)


def test_every_cursor_the_document_allows_is_taken(world: World) -> None:  # noqa: F811
    _any_documented_cursor_is_taken(world)


def test_the_audit_log_pages_by_its_cursor(world: World, engine: Engine) -> None:  # noqa: F811
    for _ in range(3):  # audited actions of this test's own
        world.client.post(f"/api/v1/institutions/{world.inst_id}/freeze",
                          headers=bearer(world.reg), json={"reason": "x"})  # fmt: skip
        asked = world.client.post(f"/api/v1/institutions/{world.inst_id}/unfreeze",
                                  headers=bearer(world.reg), json={"reason": "y"})  # fmt: skip
        through(world.client, engine, asked)  # four eyes: a supervisor approves
    url = f"/api/v1/audit-events?institution_id={world.inst_id}&limit=2"
    everything = world.client.get(f"{url[:-1]}500", headers=bearer(world.reg)).json()["items"]
    seen, cursor = [], None
    while True:
        page = world.client.get(url + (f"&cursor={cursor}" if cursor else ""),
                                headers=bearer(world.reg)).json()  # fmt: skip
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert re.fullmatch(CURSOR, cursor)
    assert [e["id"] for e in seen] == [e["id"] for e in everything] and len(seen) >= 7


def test_instants_are_bounded_by_the_year_written(world: World) -> None:  # noqa: F811
    ok = world.client.get("/api/v1/audit-events?since=" + quote("2000-01-01T00:00:00+08:00"),
                          headers=bearer(world.reg))  # fmt: skip
    assert ok.status_code == 200, ok.text
    late = world.client.get("/api/v1/audit-events?since=" + quote("1999-12-31T23:00:00Z"),
                            headers=bearer(world.reg))  # fmt: skip
    assert_problem(late, 422, "validation_error")
    assert late.json()["errors"][0]["code"] == "instant_out_of_range"


def test_the_document_states_what_the_models_refuse(world: World) -> None:  # noqa: F811
    amount = _schema(world, "EnrollmentIn")["properties"]["amount"]["pattern"]
    assert not any(re.fullmatch(amount, v) for v in ("0", "0.0", "0.00", "-1"))
    assert all(re.fullmatch(amount, v) for v in ("0.01", "0.1", "1", "1280.50"))
    note = _schema(world, "NoteIn")["properties"]["note"]["pattern"]
    assert not re.fullmatch(note, "\t") and not re.fullmatch(note, "\u3000 ")
    assert re.fullmatch(note, " a ")
    pct = _schema(world, "GuideItem")["properties"]["max_float_pct"]["pattern"]
    assert re.fullmatch(pct, "100.00") and not re.fullmatch(pct, "100.01")
    day = _schema(world, "VacationIn")["properties"]["start"]
    assert day["format"] == "date" and not re.fullmatch(day["pattern"], "1821-06-01")


def test_a_whole_number_written_with_a_fraction_of_zero_is_a_whole_number(
    world: World,  # noqa: F811
) -> None:
    body = {"region_code": "220000", "year": 2027.0, "vacations": []}
    r = world.client.post("/api/v1/school-calendars", headers=bearer(world.reg), json=body)
    assert r.status_code == 201, r.text
    body["year"] = 2027.5
    r = world.client.post("/api/v1/school-calendars", headers=bearer(world.reg), json=body)
    assert_problem(r, 422, "validation_error")
