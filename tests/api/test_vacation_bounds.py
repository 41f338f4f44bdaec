"""A region's vacations are bounded in the domain, whoever sets them (the API or the
workbench's form), on SQLite and PostgreSQL. Found by the attacker probe after issue 31's
fixes: a vacation from 2026-01-01 to 2099-12-31 was taken through either door, after which
every subject course filed in the region had all its lessons "in the vacation" and was
refused (the harm of finding 4's negative price, by another field); and the form added
vacations one at a time past the API's ten a year."""

from __future__ import annotations

from sqlalchemy import func, select

from service.fees.models import SchoolVacation
from service.kit.db import make_sessionmaker
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.api.told import told


def _vacations(site: Site) -> int:  # noqa: F811
    with make_sessionmaker(site.engine)() as s:
        return int(s.scalar(select(func.count()).select_from(SchoolVacation)) or 0)


def test_a_vacation_of_decades_is_refused_by_the_api_and_the_form(site: Site) -> None:  # noqa: F811
    c = site.client()
    auth = {"Authorization": f"Bearer {site.shown.tokens['220100']}"}
    before = _vacations(site)
    body = {"region_code": "220100", "year": 2031,
            "vacations": [{"name": "寒假", "start": "2031-01-01", "end": "2099-12-31"}]}  # fmt: skip
    r = c.post("/api/v1/school-calendars", json=body, headers=auth)
    assert r.status_code == 422 and r.json()["code"] == "validation_error", r.text
    csrf = sign_in(c, site.shown.tokens["220100"])
    form = {"region_code": "220100", "name": "寒假", "start": "2031-01-01",
            "end": "2099-12-31", "csrf": csrf}  # fmt: skip
    page = c.post("/workbench/prices/vacations", data=form)
    kind, _text = told(c, page) or ("", "")
    assert kind == "problem"
    assert _vacations(site) == before
    summer = {**form, "name": "暑假", "start": "2031-07-01", "end": "2031-08-31"}
    assert told(c, c.post("/workbench/prices/vacations", data=summer))[0] == "done"  # type: ignore[index]
    assert _vacations(site) == before + 1


def test_the_form_keeps_the_apis_ten_vacations_a_year(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    outcomes = []
    for n in range(11):
        day = f"2032-{n + 1:02d}-10"
        form = {"region_code": "220100", "name": f"假期{n}", "start": day, "end": day,
                "csrf": csrf}  # fmt: skip
        outcomes.append((told(c, c.post("/workbench/prices/vacations", data=form)) or ("",))[0])
    assert outcomes == ["done"] * 10 + ["problem"], outcomes
