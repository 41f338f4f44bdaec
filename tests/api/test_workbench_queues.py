"""The workbench's queues (issue 30, items 3 and 9), over HTTP on SQLite and PostgreSQL: the
overview names every reconciliation break no one has reviewed, of every day, with its amount;
reconciliation lists them all by institution; the case queue is the API's query, paged, with
no number it silently stops at."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from service.kit.clock import local_date
from service.kit.db import make_sessionmaker
from service.kit.ids import new_id
from service.risk.models import Alert
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)
from tests.api.told import told

ROOT = Path(__file__).resolve().parents[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tile(page: str, label: str) -> int:
    found = re.search(re.escape(label) + r"\s*<strong>(\d+)</strong>", page)
    assert found, label
    return int(found.group(1))


def test_the_overview_names_every_unreviewed_break_of_every_day_with_its_amount(
    site: Site,  # noqa: F811
) -> None:
    c = site.client()
    saved = site.clock.now
    try:
        site.clock.now = saved + timedelta(days=3)  # the breaks are days old, none today
        sign_in(c, site.shown.tokens["220100"])
        page = c.get("/workbench?lang=en").text
    finally:
        site.clock.now = saved
    # The critical school's statement: a debit with no instruction, and its balance short.
    assert _tile(page, "Statement breaks not reviewed, every day") == 2
    panel = page[page.index('id="today-h"') : page.index('id="trend-h"')]
    table = panel[panel.index("<table") :]
    assert "南关区启明学科培训学校" in table and table.count("¥1,200.00") == 2
    assert "Money out" in table and "Balance differs" in table
    assert "铁西区" not in panel  # Siping's school is not Changchun's
    # The banks hold less than the ledger: an item of its own, with the gap and who is short.
    assert "Coverage below 100%" in panel
    assert "The banks hold ¥1,200.00 less than the ledger; institutions short: 1" in panel


def test_reconciliation_lists_every_unreviewed_break_by_institution_until_reviewed(
    site: Site,  # noqa: F811
) -> None:
    c = site.client()
    token = site.shown.tokens["220300"]  # Siping: its one school is short too
    saved = site.clock.now
    try:
        site.clock.now = saved + timedelta(days=5)
        csrf = sign_in(c, token)
        page = c.get("/workbench/reconciliation?lang=en").text
        day = (local_date(saved) - timedelta(days=1)).isoformat()
        assert "Institutions with unreviewed breaks: 1" in page
        group = page[page.index("铁西区明德艺术培训学校") :]
        assert day in group and group.count("¥1,200.00") >= 2
        api = c.get("/api/v1/statements?status=unreviewed", headers=bearer(token)).json()
        assert [s["statement_date"] for s in api["items"]] == [day]
        statement = api["items"][0]["id"]
        r = c.post(
            f"/workbench/statements/{statement}/review",
            data={"csrf": csrf, "back_to": "/workbench/reconciliation"},
        )
        assert r.status_code == 303 and r.headers["location"].startswith(
            "/workbench/reconciliation"
        )
        after = c.get("/workbench/reconciliation?lang=en").text
        assert "No statement break waits for review." in after
        assert (
            c.get("/api/v1/statements?status=unreviewed", headers=bearer(token)).json()["items"]
            == []
        )
        # The day's view is still there for that bank day, the statement marked reviewed.
        one_day = c.get(f"/workbench/reconciliation?lang=en&day={day}").text
        assert "铁西区明德艺术培训学校" in one_day and "Mark reviewed" not in one_day
    finally:
        site.clock.now = saved


def test_the_case_queue_pages_through_every_case_it_matches(site: Site) -> None:  # noqa: F811
    """230 closed cases: the page used to stop at 200 without a word."""
    inst = site.shown.institutions["reserve"]
    with make_sessionmaker(site.engine)() as s, s.begin():
        for n in range(230):
            at = site.clock.now - timedelta(days=300 - n)
            s.add(Alert(id=new_id("alr"), institution_id=inst, level="low", score=10,
                        status="resolved", opened_at=at, indicators=[], resolved_at=at,
                        resolve_note="已整改", outcome="rectified"))  # fmt: skip
    c = site.client()
    token = site.shown.tokens["220100"]
    sign_in(c, token)
    first = c.get("/workbench/alerts?status=resolved&lang=en").text
    assert "Cases found: 230" in first and "Page 1 / 5" in first
    seen: list[str] = []
    for n in range(1, 6):
        page = c.get(f"/workbench/alerts?status=resolved&page={n}").text
        seen += re.findall(r'<tr id="(alr[^"]+)"', page)
    assert len(seen) == len(set(seen)) == 230
    by_api: list[str] = []
    cursor = ""
    while True:
        body = c.get(
            f"/api/v1/risk/alerts?status=resolved&limit=100{cursor}", headers=bearer(token)
        ).json()
        by_api += [a["id"] for a in body["items"]]
        if not body["next_cursor"]:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert sorted(by_api) == sorted(seen)


def test_a_snoozed_case_whose_day_came_is_open_on_the_page_and_in_the_api(
    site: Site,  # noqa: F811
) -> None:
    c = site.client()
    token = site.shown.tokens["220100"]
    case = site.shown.case
    saved = site.clock.now
    try:
        csrf = sign_in(c, token)
        tomorrow = (local_date(saved) + timedelta(days=1)).isoformat()
        r = c.post(f"/workbench/alerts/{case}/snooze",
                   data={"csrf": csrf, "until": tomorrow, "reason": "等待银行回函"})  # fmt: skip
        assert (told(c, r) or ("", ""))[0] == "done"

        def listed(status: str) -> tuple[bool, bool]:
            page = c.get(f"/workbench/alerts?status={status}").text
            api = c.get(f"/api/v1/risk/alerts?status={status}", headers=bearer(token)).json()
            return f'id="{case}"' in page, case in [a["id"] for a in api["items"]]

        assert listed("snoozed") == (True, True) and listed("open") == (False, False)
        site.clock.now = saved + timedelta(days=2)  # its day has come; no job has run
        sign_in(c, token)
        assert listed("open") == (True, True) and listed("snoozed") == (False, False)
        with make_sessionmaker(site.engine)() as s:
            assert s.scalar(select(Alert.status).where(Alert.id == case)) == "snoozed"
    finally:
        site.clock.now = saved


def test_overdue_refund_is_written_once_in_the_domain() -> None:
    """One predicate per question: no caller writes the overdue condition of its own."""
    writers = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "service").rglob("*.py")
        if "respond_by <=" in p.read_text(encoding="utf-8")
    ]
    assert writers == ["service/flows/refunds.py"]


def test_every_money_tile_is_a_link_and_districts_count_every_institution(
    site: Site,  # noqa: F811
) -> None:
    """An institution registered since the last sweep (not yet evaluated) is in its
    district's row: the rows add up to the region's institutions."""
    from service.registry.models import Bank, Regulator
    from tools import showcase

    with make_sessionmaker(site.engine)() as s, s.begin():
        province = s.scalars(select(Regulator).where(Regulator.region_code == "220000")).one()
        bank = s.scalars(select(Bank)).first()
        assert bank is not None
        new = showcase.School("new", "南关区新苗艺术培训学校", "220102", "non_subject", "custody")
        showcase._open(s, province, bank.id, new, 90, site.clock.now)
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    page = c.get("/workbench?lang=en").text
    figures = page[page.index('<dl class="figures">') : page.index("</dl>")]
    tiles = re.findall(r"<dd>(.*?)</dd>", figures, re.S)
    assert len(tiles) >= 7 and all(t.startswith("<a href=") for t in tiles), tiles
    levels = page[page.index('id="levels-h"') : page.index('id="money-h"')]
    in_region = sum(int(n) for n in re.findall(r"<strong>(\d+)</strong>", levels))
    table = page[page.index('id="districts-h"') : page.index('id="jobs-h"')]
    rows = re.findall(r"<tr><th scope=\"row\"[^>]*>.*?</tr>", table, re.S)
    counted = [re.findall(r">(\d+)</a></td>", row) for row in rows]
    assert sum(int(r[0]) for r in counted) == in_region == 5  # four swept, one not yet
    for r in counted:  # each row: its institutions = critical + high + medium + low + none
        assert int(r[0]) == sum(int(n) for n in r[1:6]), r
    nanguan = next(r for r, row in zip(counted, rows, strict=True) if "南关区" in row)
    assert nanguan[0] == "2" and nanguan[5] == "1"  # the new school, not yet evaluated


def test_no_list_of_the_pages_or_the_api_stops_at_a_fixed_number() -> None:
    """Every list pages: a limit is a page's size (with an offset or a cursor after it)."""
    capped = [
        f"{p.relative_to(ROOT)}: {m.group(0)}"
        for folder in ("service/pages", "service/api")
        for p in (ROOT / folder).rglob("*.py")
        for m in re.finditer(r"\.limit\(\s*\d+\s*\)", p.read_text(encoding="utf-8"))
    ]
    assert capped == []


def test_the_reconciliation_form_left_empty_shows_the_unreviewed_view(
    site: Site,  # noqa: F811
) -> None:
    """The filter form sends an empty day when none is picked: every unreviewed break."""
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    r = c.get("/workbench/reconciliation?day=&bank=&lang=en")
    assert r.status_code == 200 and "Institutions with unreviewed breaks" in r.text
