"""One case on the workbench (issue 30, item 6), on SQLite and PostgreSQL: closing it asks for
an outcome (none is chosen for the regulator), and the page says the level the case was opened
at, the case's level now and the institution's level now, each by its name."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from service.kit.db import make_sessionmaker
from service.registry.models import Regulator
from service.risk import alerts
from service.risk.models import Alert, InstitutionRisk
from service.risk.scoring import Verdict
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)


def _dd(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</dd>', page, re.S)
    assert found, testid
    return found.group(1)


def test_closing_a_case_has_no_outcome_chosen_and_refuses_none(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    page = c.get(f"/workbench/alerts/{site.shown.case}?lang=en").text
    select_ = page[page.index('<select id="outcome"') :].split("</select>", 1)[0]
    assert " required" in select_.split(">", 1)[0]
    options = re.findall(r"<option([^>]*)>", select_)
    assert options[0] == ' value="" selected disabled'  # a prompt, not an outcome
    assert all("selected" not in o for o in options[1:])
    before = site.audit_count()
    r = c.post(f"/workbench/alerts/{site.shown.case}/close",
               data={"csrf": csrf, "outcome": "", "note": "未核实"})  # fmt: skip
    assert r.status_code == 422 and site.audit_count() == before
    with make_sessionmaker(site.engine)() as s:
        assert s.get(Alert, site.shown.case).status != "resolved"  # type: ignore[union-attr]


def test_the_case_says_its_level_when_opened_and_the_institutions_now(
    site: Site,  # noqa: F811
) -> None:
    inst = site.shown.institutions["overdue"]
    sessions = make_sessionmaker(site.engine)
    with sessions() as s, s.begin():
        city = s.scalars(select(Regulator).where(Regulator.region_code == "220100")).one()
        case = alerts.raise_case(s, regulator=city, institution_id=inst, note="家长来电反映",
                                 now=site.clock.now)  # fmt: skip
        assert case.opened_level == "medium"
        # A later sweep finds the institution worse: the case's level rises, its opening stays.
        alerts.on_verdict(s, institution_id=inst, verdict=Verdict(score=80, level="high", indicators=[]), active=case,
                          at=site.clock.now + timedelta(minutes=1), rose=True)  # fmt: skip
        assert (case.level, case.opened_level) == ("high", "medium")
        case_id = case.id
        # And the institution's own level today is another again (say it improved since).
        s.execute(
            update(InstitutionRisk)
            .where(InstitutionRisk.institution_id == inst)
            .values(level="low")
        )
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    page = c.get(f"/workbench/alerts/{case_id}?lang=en").text
    assert "Level when the case was opened" in page and "Medium" in _dd(page, "opened-level")
    assert "Case level now (raised by a later sweep)" in page and "High" in _dd(page, "case-level")
    assert "The institution&#39;s level now" in page and "Low" in _dd(page, "institution-level")
    queue = c.get("/workbench/alerts?lang=en").text
    row = queue[queue.index(f'<tr id="{case_id}"') :].split("</tr>", 1)[0]
    assert "Case level" in queue and "Institution&#39;s level now" in queue
    assert row.index("High") < row.index("Low")  # the case's level, then the institution's
    api = c.get("/api/v1/risk/alerts?status=open&limit=100",
                headers={"Authorization": f"Bearer {site.shown.tokens['220100']}"}).json()  # fmt: skip
    read = next(a for a in api["items"] if a["id"] == case_id)
    assert (read["level"], read["opened_level"]) == ("high", "medium")


def test_an_institutions_file_pages_through_every_case_it_has(site: Site) -> None:  # noqa: F811
    """The file's lists showed their newest entries and stopped: now each has older pages."""
    from service.kit.ids import new_id

    inst = site.shown.institutions["reserve"]
    with make_sessionmaker(site.engine)() as s, s.begin():
        for n in range(45):
            at = site.clock.now - timedelta(days=200 - n)
            s.add(Alert(id=new_id("alr"), institution_id=inst, level="low", score=10,
                        opened_level="low", status="resolved", opened_at=at, indicators=[],
                        resolved_at=at, resolve_note="已整改", outcome="rectified"))  # fmt: skip
        total = len(list(s.scalars(select(Alert.id).where(Alert.institution_id == inst))))
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    seen: list[str] = []
    page = 1
    while True:
        text = c.get(f"/workbench/institutions/{inst}?alerts={page}&lang=en").text
        section = text[text.index('id="cases-h"') : text.index('id="refunds-h"')]
        found = re.findall(r'href="/workbench/alerts/(alr[^"]+)"', section)
        assert 0 < len(found) <= 20
        seen += found
        if "Older entries" not in section:
            break
        page += 1
    assert page == -(-total // 20) and len(seen) == len(set(seen)) == total
    assert c.get(f"/workbench/institutions/{inst}?alerts=0").status_code == 422


def test_the_api_the_file_and_the_list_give_an_institution_one_level(
    site: Site,  # noqa: F811
) -> None:
    """A sweep re-run at the instant of the last one, finding another level: the list, the
    institution's file and the API all read the evaluation the institution stands at."""
    from service.kit.ids import new_id
    from service.risk.models import RiskEvaluation

    inst = site.shown.institutions["disputed"]
    with make_sessionmaker(site.engine)() as s, s.begin():
        risk = s.get(InstitutionRisk, inst)
        assert risk is not None
        # The re-run's evaluation: the same instant, written later, and what the store holds.
        s.add(RiskEvaluation(id=new_id("rev"), institution_id=inst, as_of=risk.as_of, score=99,
                             level="critical", indicators=[],
                             created_at=site.clock.now + timedelta(seconds=1)))  # fmt: skip
        risk.level, risk.score = "critical", 99
    c = site.client()
    token = site.shown.tokens["220100"]
    sign_in(c, token)
    auth = {"Authorization": f"Bearer {token}"}
    api = c.get(f"/api/v1/institutions/{inst}", headers=auth).json()["risk"]
    listed = c.get("/api/v1/institutions?risk_level=critical&limit=100", headers=auth).json()
    page = c.get(f"/workbench/institutions/{inst}?lang=en").text
    head = page[page.index("<h1>") : page.index("</p>", page.index("<h1>"))]
    assert (api["level"], api["score"]) == ("critical", 99)
    assert [i["risk"]["level"] for i in listed["items"] if i["id"] == inst] == ["critical"]
    assert "level-critical" in head and "99" in head
