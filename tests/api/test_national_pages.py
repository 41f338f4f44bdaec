"""The national regulator's workbench (issue 37), on SQLite and PostgreSQL: region `100000`
reads the provinces' rollups as their subscriptions brought them, each province with its
as-of and a late one marked; every page in Chinese; a provincial office does not see it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from service.app import create_app
from service.config import Settings
from service.kit.db import make_sessionmaker, run_in_transaction
from service.national.models import (
    TABLES,
    NationalAlert,
    NationalDistrict,
    NationalInstitution,
    NationalProvince,
    NationalSync,
    NationalWindDown,
)
from service.registry.credentials import create_regulator
from tests.integration.test_every_page_in_chinese import Crawl, _Page, foreign

LIAONING, GUANGDONG = "210000", "440000"


def _province(code: str, at: datetime, **over: object) -> NationalProvince:
    values: dict[str, object] = {
        "province": code, "refreshed_at": at, "institutions": 2, "critical": 1, "high": 0,
        "medium": 0, "low": 1, "unevaluated": 0, "escrow": Decimal("1500.00"),
        "owed": Decimal("1200.00"), "with_statement": 1, "escrow_reported": Decimal("1000.00"),
        "bank_balance": Decimal("900.00"), "open_alerts": 1, "open_wind_downs": 1,
    }  # fmt: skip
    return NationalProvince(**(values | over))


@pytest.fixture
def national(engine: Engine) -> Iterator[datetime]:
    """Two provinces' rollups as the subscriptions brought them: Liaoning's 5 s old, with an
    institution at a critical level, its open case and its wind-down; Guangdong's 5 minutes
    old (its replication stopped)."""
    now = datetime.now(UTC)
    t = now - timedelta(seconds=5)

    def put(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        for model in TABLES:
            s.execute(delete(model).where(model.province.in_((LIAONING, GUANGDONG))))
        s.add_all([
            _province(LIAONING, t),
            _province(GUANGDONG, now - timedelta(minutes=5), critical=0, open_alerts=0,
                      open_wind_downs=0, with_statement=0, escrow_reported=Decimal(0),
                      bank_balance=Decimal(0)),
            NationalDistrict(province=LIAONING, region_code="210102", institutions=2, critical=1,
                             high=0, escrow=Decimal("1500.00"), owed=Decimal("1200.00"),
                             with_statement=1, escrow_reported=Decimal("1000.00"),
                             bank_balance=Decimal("900.00")),
            NationalInstitution(province=LIAONING, institution_id="inst_ln1", name="沈阳启明学堂",
                                region_code="210102", status="frozen", level="critical",
                                score=90, escrow=Decimal("1000.00"), owed=Decimal("800.00"),
                                bank_balance=Decimal("900.00"), bank_day=t.date()),
            NationalInstitution(province=LIAONING, institution_id="inst_ln2", name="和平区书法馆",
                                region_code="210102", status="active", level="low", score=5,
                                escrow=Decimal("500.00"), owed=Decimal("400.00"),
                                bank_balance=None, bank_day=None),
            NationalAlert(province=LIAONING, alert_id="alr_ln1", institution_id="inst_ln1",
                          level="critical", status="open", opened_at=t),
            NationalWindDown(province=LIAONING, wind_down_id="wd_ln1", institution_id="inst_ln1",
                             reason="absconded", status="open", effective_at=t,
                             shortfall=Decimal("100.00")),
        ])  # fmt: skip

    run_in_transaction(make_sessionmaker(engine), put)
    yield now
    run_in_transaction(make_sessionmaker(engine), lambda s: [
        s.execute(delete(m).where(m.province.in_((LIAONING, GUANGDONG)))) for m in TABLES])  # fmt: skip


def _signed_in(engine: Engine, settings: Settings, region: str, name: str) -> TestClient:
    issued = run_in_transaction(make_sessionmaker(engine), lambda s: create_regulator(
        s, name=name, region_code=region, now=datetime.now(UTC)))  # fmt: skip
    c = TestClient(create_app(settings, engine=engine), raise_server_exceptions=False,
                   follow_redirects=False)  # fmt: skip
    c.get("/workbench/sign-in?lang=zh")
    r = c.post("/workbench/sign-in", data={"token": issued.credential,
                                           "csrf": c.cookies["tg_csrf"]})  # fmt: skip
    assert r.status_code == 303
    return c


def _texts(html: str) -> list[str]:
    page = _Page()
    page.feed(html)
    return page.texts


def test_the_national_office_sees_each_province_with_its_as_of(
    engine: Engine, settings: Settings, national: datetime
) -> None:
    c = _signed_in(engine, settings, "100000", "国家监管平台")
    first = c.get("/workbench")
    assert first.status_code == 303 and first.headers["location"] == "/workbench/national"
    page = c.get("/workbench/national")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-province="(\d{6})">(.*?)</tr>', page.text, re.S))
    assert {LIAONING, GUANGDONG} <= set(rows)
    assert "辽宁省" in rows[LIAONING] and "广东省" in rows[GUANGDONG]
    assert "90.0%" in rows[LIAONING]  # coverage: the bank's 900 over the reported 1,000
    assert "已延迟" in rows[GUANGDONG] and "已延迟" not in rows[LIAONING]
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", rows[LIAONING])  # its as-of, shown
    assert 'href="/workbench/national"' in page.text  # in the menu
    province = c.get(f"/workbench/national/{LIAONING}")
    assert province.status_code == 200
    for shown in ("沈阳启明学堂", "¥100.00", "和平区", "资金缺口"):
        assert shown in province.text, shown
    flagged = province.text.split('data-testid="flagged"')[1].split("</table>")[0]
    assert "沈阳启明学堂" in flagged and "和平区书法馆" not in flagged  # low: not flagged
    assert c.get("/workbench/national/999999").status_code == 404
    english = c.get("/workbench/national?lang=en").text
    assert "National view" in english and "different instants" in english


def test_every_national_page_is_chinese(
    engine: Engine, settings: Settings, national: datetime
) -> None:
    c = _signed_in(engine, settings, "100000", "国家监管平台")
    c.get("/workbench/national?lang=zh")
    crawl = Crawl(c, "/workbench/national", asked={"inst_ln1", "inst_ln2"})
    crawl.run("/workbench/national")
    assert f"/workbench/national/{LIAONING}" in crawl.seen
    assert crawl.found == {}, crawl.found
    assert foreign(_texts(c.get(f"/workbench/national/{GUANGDONG}").text)) == []


def test_a_provincial_office_has_no_national_view(
    engine: Engine, settings: Settings, national: datetime
) -> None:
    c = _signed_in(engine, settings, "220000", "吉林省教育厅")
    assert c.get("/workbench/national").status_code == 404
    assert c.get(f"/workbench/national/{LIAONING}").status_code == 404
    overview = c.get("/workbench")
    assert overview.status_code == 200 and 'href="/workbench/national"' not in overview.text


def test_a_province_copied_again_after_its_failover_is_shown_as_such(
    engine: Engine, settings: Settings, national: datetime
) -> None:
    """While the national follower copies Liaoning whole again from its new primary
    (service.national.follow), its figures are left out of the table and the totals, and the
    page says since when and what as-of its last figures had; its own page says the same."""
    last = national - timedelta(seconds=40)

    def resyncing(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        s.execute(delete(NationalSync).where(NationalSync.province == LIAONING))
        s.add(NationalSync(province=LIAONING, state="resyncing", since=national,
                           reason="the province's leader changed", system_id="1", timeline=2,
                           last_as_of=last))  # fmt: skip

    run_in_transaction(make_sessionmaker(engine), resyncing)
    try:
        c = _signed_in(engine, settings, "100000", "国家监管平台")
        page = c.get("/workbench/national?lang=zh").text
        rows = dict(re.findall(r'<tr data-province="(\d{6})">(.*?)</tr>', page, re.S))
        assert LIAONING not in rows and GUANGDONG in rows
        section = page.split('data-testid="resyncing"')[1].split("</section>")[0]
        assert "辽宁省" in section and "重新复制" in section
        assert re.search(r"最后收到的数据时点为 \d{4}-\d{2}-\d{2} \d{2}:\d{2}", section)
        totals = page.split('data-testid="totals"')[1].split("</tr>")[0]
        assert ">2<" in totals  # Guangdong's 2 institutions only
        own = c.get(f"/workbench/national/{LIAONING}?lang=zh")
        assert own.status_code == 200
        assert f'data-testid="resyncing-{LIAONING}"' in own.text and "沈阳启明学堂" not in own.text
        assert foreign(_texts(page)) == [] and foreign(_texts(own.text)) == []
    finally:
        run_in_transaction(make_sessionmaker(engine), lambda s: s.execute(
            delete(NationalSync).where(NationalSync.province == LIAONING)))  # fmt: skip
