"""Publishing a price guide, on SQLite and PostgreSQL: one use case (service/fees/guides.py)
whoever calls it — the API, the workbench's CSV import, the CLI — with the same checks, the
same scope, an audit entry, a row-by-row report for a bad file (nothing written), and an
explicit, audited supersede of the guide published for a day (the old one kept)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from service.errors import DomainError
from service.fees.guides import GuideDraft, Publisher, publish_guide
from service.fees.models import PriceGuide
from service.kit.db import make_sessionmaker
from service.pages.workbench.common import SUBMITTED
from service.registry.models import AuditEvent, Regulator
from tests import factories
from tests.api.approving import approve_pending, office_of_region
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.api.told import told
from tests.integration.test_cli import run_cli

HEADER = (
    "region_code,region_name,effective_from,mode,grade_band,class_size_min,class_size_max,"
    "standard_minutes,base_price,max_float_pct,note\n"
)
GOOD = "220102,南关区,2031-03-01,offline,any,1,9,45,{price},10,\n"


def _guides(site: Site) -> int:  # noqa: F811
    with make_sessionmaker(site.engine)() as s:
        return int(s.scalar(select(func.count()).select_from(PriceGuide)) or 0)


def _post(c: Any, csrf: str, text: str, **form: str) -> Any:
    files = {"file": ("guides.csv", text.encode("utf-8"), "text/csv")}
    return c.post("/workbench/prices/import", data={"csrf": csrf, **form}, files=files)


def _report_lines(html: str) -> list[int]:
    return [int(n) for n in re.findall(r"<tr><td>(\d+)</td><td>", html)]


BAD_ROWS = {
    "negative price": "220102,南关区,2031-01-01,offline,any,1,9,45,-80.00,10,\n",
    "short row": "220102,南关区,2031-01-01,offline\n",
    "20-digit price": "220102,南关区,2031-01-01,offline,any,1,9,45,12345678901234567890,10,\n",
    "unknown mode": "220102,南关区,2031-01-01,hybrid,any,1,9,45,30,10,\n",
    "unknown grade": "220102,南关区,2031-01-01,offline,college,1,9,45,30,10,\n",
    "NUL byte": "220102,南关\x00区,2031-01-01,offline,any,1,9,45,30,10,\n",
    "20-digit class size": "220102,南关区,2031-01-01,offline,any,12345678901234567890,,45,30,10,\n",
    "year 9999": "220102,南关区,9999-01-01,offline,any,1,9,45,30,10,\n",
    "float cap 500%": "220102,南关区,2031-01-01,offline,any,1,9,45,30,500,\n",
    "zero minutes": "220102,南关区,2031-01-01,offline,any,1,9,0,30,10,\n",
    "max below min": "220102,南关区,2031-01-01,offline,any,9,1,45,30,10,\n",
    "overlapping band": "220102,南关区,2031-03-01,offline,any,5,20,45,30,10,\n",
    "another city's region": "220302,铁西区,2031-01-01,offline,any,1,9,45,30,10,\n",
    "unknown region": "999999,无,2031-01-01,offline,any,1,9,45,30,10,\n",
    "more fields than the header": "220102,南关区,2031-01-01,offline,any,1,9,45,30,10,,x\n",
}


def test_a_bad_file_is_reported_row_by_row_and_writes_nothing(site: Site) -> None:  # noqa: F811
    """Each kind of bad row the probe found (a 500 or a guide that broke filings before) is
    on the report with its line; the good rows around them are not written either."""
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    before, audits = _guides(site), site.audit_count()
    text = HEADER + GOOD.format(price="30") + "".join(BAD_ROWS.values())
    r = _post(c, csrf, text)
    assert r.status_code == 422, r.text[:500]
    lines = _report_lines(r.text)
    # Every bad row (lines 3..) is reported; the overlapping band names its own line.
    assert set(lines) == set(range(3, 3 + len(BAD_ROWS))), lines
    # Said in the page's language (Chinese by default), what is wrong with each row.
    assert "不在本部门辖区内" in r.text and "不是有效的行政区划代码" in r.text
    assert "须为大于零的金额" in r.text and "含有控制字符" in r.text
    assert _guides(site) == before and site.audit_count() == audits
    for name, row in BAD_ROWS.items():
        if name == "overlapping band":
            continue
        one = _post(c, csrf, HEADER + row)
        assert one.status_code == 422 and _report_lines(one.text) == [2], name
    assert _guides(site) == before and site.audit_count() == audits


def test_a_file_is_scoped_audited_and_supersedes_only_when_asked(site: Site) -> None:  # noqa: F811
    token = site.shown.tokens["220100"]
    c = site.client()
    csrf = sign_in(c, token)
    r = _post(c, csrf, HEADER + GOOD.format(price="31.00"))
    assert told(c, r) == ("done", SUBMITTED)  # four eyes: a supervisor approves
    assert [
        x and x["ok"] for x in approve_pending(site.engine, office_of_region(site.engine, "220100"))
    ] == [True]
    again = _post(c, csrf, HEADER + GOOD.format(price="31.00"))
    assert told(c, again) == ("done", "Imported.")  # the same guide again: nothing to do
    changed = _post(c, csrf, HEADER + GOOD.format(price="33.00"))
    assert changed.status_code == 422 and "supersede" in changed.text  # English: told() asked
    assert _report_lines(changed.text) == [2]
    replaced = _post(c, csrf, HEADER + GOOD.format(price="33.00"), supersede="true")
    assert told(c, replaced) == ("done", SUBMITTED), replaced.text[:300]
    assert [
        x and x["ok"] for x in approve_pending(site.engine, office_of_region(site.engine, "220100"))
    ] == [True]
    with make_sessionmaker(site.engine)() as s:
        rows = list(
            s.scalars(
                select(PriceGuide)
                .where(PriceGuide.region_code == "220102")
                .order_by(PriceGuide.created_at)
            )
        )
        dated = [g for g in rows if g.effective_from.isoformat() == "2031-03-01"]
        assert len(dated) == 2  # the old one is kept, as history
        old, new = dated
        assert old.superseded_by == new.id and new.superseded_by is None
        acts = list(s.scalars(select(AuditEvent).where(AuditEvent.subject.in_([old.id, new.id]))))
        assert sorted(a.action for a in acts) == ["price_guide:publish", "price_guide:supersede"]
        assert all(a.detail["via"] == "workbench" for a in acts)
    api = site.client()
    auth = {"Authorization": f"Bearer {token}"}
    listed = api.get("/api/v1/price-guides?region_code=220102", headers=auth).json()["items"]
    future = [g for g in listed if g["effective_from"] == "2031-03-01"]
    assert [g["items"][0]["base_price"] for g in future] == ["33.00"]


def _api_guide(price: str, day: str = "2032-01-01", **over: Any) -> dict[str, Any]:
    item = {"mode": "offline", "grade_band": "any", "class_size_min": 1, "class_size_max": 9,
            "standard_minutes": 45, "base_price": price, "max_float_pct": "10"}  # fmt: skip
    return {"region_code": "220102", "effective_from": day, "items": [item], **over}


def test_the_api_refuses_what_the_file_refuses_and_supersedes_explicitly(
    site: Site,  # noqa: F811
) -> None:
    api = site.client()
    auth = {"Authorization": f"Bearer {site.shown.tokens['220100']}"}
    for bad in ("-80.00", "0", "12345678901234567890"):
        r = api.post("/api/v1/price-guides", json=_api_guide(bad), headers=auth)
        assert r.status_code == 422, (bad, r.text)
    office = office_of_region(site.engine, "220100")
    first = api.post("/api/v1/price-guides", json=_api_guide("30"), headers=auth)
    assert first.status_code == 202, first.text  # four eyes: a supervisor approves
    ((first_id,),) = [x["answer"]["created"] for x in approve_pending(site.engine, office) if x]
    twin = api.post("/api/v1/price-guides", json=_api_guide("35"), headers=auth)
    assert twin.status_code == 409 and twin.json()["code"] == "price_guide_exists"
    same = api.post("/api/v1/price-guides", json=_api_guide("30"), headers=auth)
    assert same.status_code == 201 and same.json()["id"] == first_id  # nothing to approve
    sup = api.post("/api/v1/price-guides", json=_api_guide("35", supersede=True), headers=auth)
    assert sup.status_code == 202, sup.text
    ((sup_id,),) = [x["answer"]["created"] for x in approve_pending(site.engine, office) if x]
    assert sup_id != first_id
    listed = api.get("/api/v1/price-guides?region_code=220102", headers=auth).json()["items"]
    assert [g["id"] for g in listed if g["effective_from"] == "2032-01-01"] == [sup_id]
    other = api.post("/api/v1/price-guides", json=_api_guide("30") | {"region_code": "220302"},
                     headers=auth)  # fmt: skip
    assert other.status_code == 403 and other.json()["code"] == "out_of_region"


def test_the_cli_import_is_scoped_and_audited(site: Site, tmp_path: Any) -> None:  # noqa: F811
    """The CLI publishes as a named regulator: over its region, with the same report, and on
    the audit log (via cli)."""
    url = str(site.engine.url.render_as_string(hide_password=False))
    with make_sessionmaker(site.engine)() as s:
        city = s.scalar(select(Regulator.id).where(Regulator.region_code == "220100"))
    assert city is not None
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + BAD_ROWS["negative price"] + BAD_ROWS["another city's region"])
    out = run_cli(url, "prices", "import", str(bad), "--regulator", city)
    assert out.returncode == 2 and '"line": 2' in out.stderr and '"line": 3' in out.stderr
    assert run_cli(url, "prices", "import", str(bad)).returncode != 0  # no scope: no import
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD.format(price="29").replace("2031", "2033"))
    out = run_cli(url, "prices", "import", str(good), "--regulator", city)
    assert out.returncode == 0, out.stderr
    assert '"status": "pending"' in out.stdout  # four eyes on every door, the CLI's too
    assert [x and x["ok"] for x in approve_pending(site.engine, city)] == [True]
    with make_sessionmaker(site.engine)() as s:
        made = s.scalars(select(AuditEvent).where(AuditEvent.actor == f"regulator:{city}",
                                                  AuditEvent.action == "price_guide:publish"))  # fmt: skip
        assert "cli" in {e.detail["via"] for e in made}


def test_two_supersedes_at_once_leave_one_current_guide(backend: str, engine: Any) -> None:
    """Two regulators replace the same day's guide at the same moment: one wins, the other is
    told (409 price_guide_exists), never a 500, and one guide stays current. PostgreSQL runs
    them truly at once; SQLite serialises writers (the loser waits, then fails its write)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: no two supersedes can interleave")
    sessions = make_sessionmaker(engine)
    regulator_id, _ = factories.regulator(engine, "220000")

    def draft(price: str) -> GuideDraft:
        return GuideDraft.model_validate(_api_guide(price, day="2034-05-01"))

    with sessions.begin() as s:
        by = Publisher.of(s.get_one(Regulator, regulator_id), "api")
        publish_guide(s, by=by, draft=draft("30"), existing="refuse", now=datetime.now(UTC))
    barrier, outcomes = threading.Barrier(2), []

    def replace(price: str) -> None:
        try:
            with sessions.begin() as s:
                by = Publisher.of(s.get_one(Regulator, regulator_id), "api")
                barrier.wait()
                publish_guide(s, by=by, draft=draft(price), existing="supersede",
                              now=datetime.now(UTC))  # fmt: skip
            outcomes.append("ok")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=replace, args=(p,)) for p in ("31", "32")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "price_guide_exists"], outcomes
    with sessions() as s:
        current = s.scalars(select(PriceGuide).where(
            PriceGuide.region_code == "220102", PriceGuide.superseded_by.is_(None),
            PriceGuide.effective_from == date(2034, 5, 1))).all()  # fmt: skip
        assert len(current) == 1
