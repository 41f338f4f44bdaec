"""On a Chinese page nothing a person reads is English or a code: places by their names, every
code by its label, the refund's steps and a refused form's reason as sentences. On SQLite and
PostgreSQL, in the showcase region (tools/showcase)."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.api.approving import approve_pending, office_of_region
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 - the fixture


def _text(page: str) -> str:
    """What a person reads: the page without its tags and attributes."""
    return re.sub(r"<[^>]+>", " ", page)


def test_districts_are_named_and_chosen_from_a_list(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    listed = c.get("/workbench/institutions?lang=zh").text
    select = listed.split('<select id="district"', 1)[1].split("</select>", 1)[0]
    assert '<option value="220102">南关区</option>' in select
    assert not re.search(r"\b2201\d\d\b", _text(listed))
    found = c.get("/workbench/institutions?district=220102").text
    assert "南关区启明学科培训学校" in found and "朝阳区博文学科培训中心" not in found
    overview = c.get("/workbench").text
    assert "长春市" in overview and not re.search(r"\b2201\d\d\b", _text(overview))


def test_the_prices_page_names_modes_grades_and_the_region(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    page = _text(c.get("/workbench/prices?region=220100&lang=zh").text)
    assert not re.search(r"\b(offline|online|any)\b", page)
    assert "线下" in page or "No guide" not in page


def test_a_refused_threshold_says_why_in_chinese(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    c.get("/workbench/rules?lang=zh")
    r = c.post("/workbench/rules", data={
        "csrf": csrf, "region_code": "220100", "knob": "refund_overdue:weight", "value": "-5",
        "effective_from": site.clock.now.date().isoformat(), "reason": "试一试"})  # fmt: skip
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    problem = _text(page.split('role="alert">', 1)[1].split("</p>", 1)[0])
    assert problem == "“退费逾期未答复”的“计分权重”不能设为“-5”：请填写一个整数（0 至 100）。"


def test_a_level_is_given_by_its_name(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    c.get("/workbench/rules?lang=zh")
    later = (site.clock.now + timedelta(days=30)).date().isoformat()
    r = c.post("/workbench/rules", data={
        "csrf": csrf, "region_code": "220102", "knob": "refund_overdue:floor",
        "value": "橙色（高）", "effective_from": later, "reason": "南关区退费投诉多"})  # fmt: skip
    page = c.get(r.headers["location"]).text
    assert 'role="alert"' not in page, page
    assert "已提交审批" in page  # four eyes: a supervisor approves it
    office = office_of_region(site.engine, "220100")
    assert [
        x and x["ok"] for x in approve_pending(site.engine, office, lambda: site.clock.now)
    ] == [True]
    page = c.get("/workbench/rules").text
    history = page.split('id="hist-h"', 1)[1]
    assert "南关区" in history and "退费逾期未答复 · 触发时的最低等级: 橙色（高）" in _text(history)
    assert "risk_thresholds" not in history and "high" not in _text(history)


def test_every_refusal_has_words_for_the_pages() -> None:
    """A form refused, or an error page, says why in a person's words and in the page's
    language: every code the service answers has its sentence (a new code must get one)."""
    from service.errors import CODES
    from service.pages import i18n, labels

    assert set(CODES) - set(labels.REFUSALS) == set()
    zh = i18n.gettext("zh")
    assert all(not re.search(r"[A-Za-z]", zh(text)) for text in labels.REFUSALS.values())


def test_a_refused_form_says_why_in_chinese(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    inst = site.shown.institutions["disputed"]
    c.get("/workbench?lang=zh")
    r = c.post(f"/workbench/institutions/{inst}/unfreeze", data={"csrf": csrf, "reason": "试"})
    page = c.get(r.headers["location"]).text
    problem = _text(page.split('role="alert">', 1)[1].split("</p>", 1)[0]).strip()
    assert problem == "该机构未被冻结。"


def test_an_incomplete_form_and_a_missing_page_say_so_in_chinese(site: Site) -> None:  # noqa: F811
    c = site.client()
    csrf = sign_in(c, site.shown.tokens["220100"])
    c.get("/workbench?lang=zh")
    inst = site.shown.institutions["overdue"]
    incomplete = c.post(f"/workbench/institutions/{inst}/freeze", data={"csrf": csrf})
    missing = c.get("/workbench/alerts/alr_0000000000000000")
    for r in (incomplete, missing):
        main = _text(r.text.split("<main", 1)[1].split(">", 1)[1].split("</main>", 1)[0])
        assert r.status_code in (404, 422) and not re.search(r"[A-Za-z]{2,}", main), main


def test_a_search_by_a_district_name_finds_its_schools(site: Site) -> None:  # noqa: F811
    """Typing 南关区 (or 南关) in the search finds the county's schools whatever their names."""
    from sqlalchemy import select

    from service.kit.db import make_sessionmaker
    from service.registry.models import Bank
    from tests.factories import institution_body

    with make_sessionmaker(site.engine)() as s:
        bank_id = s.scalars(select(Bank.id)).first()
    auth = {"Authorization": f"Bearer {site.shown.tokens['220100']}"}
    body = institution_body(str(bank_id), region="220102", name="启智教育培训学校")
    assert site.client().post("/api/v1/institutions", json=body, headers=auth).status_code == 201
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    for q in ("南关区", "南关"):
        assert "启智教育培训学校" in c.get("/workbench/institutions", params={"q": q}).text
    assert "启智教育培训学校" not in c.get("/workbench/institutions?q=宽城区").text


def test_money_in_suspense_says_why_in_chinese(site: Site) -> None:  # noqa: F811
    """A newcomer's first hour: a school's file listed cash in suspense with its reason as the
    code the intake gives it ("unknown_reference") and the bank's id bare."""
    from decimal import Decimal

    from service.flows import deposits
    from service.kit.db import make_sessionmaker, session_scope
    from service.registry.models import Bank, Institution

    school = next(iter(site.shown.institutions.values()))
    with session_scope(make_sessionmaker(site.engine)) as s:
        inst = s.get(Institution, school)
        assert inst is not None
        bank = s.get(Bank, inst.bank_id)
        assert bank is not None
        held = deposits.receive(s, bank=bank, now=site.clock.now, data=deposits.DepositIn(
            bank_txn_id="SUSP-NEWCOMER-1", account_no=inst.escrow_account_no,
            payment_reference="NO-SUCH-REF", amount=Decimal("88.00"), paid_at=site.clock.now,
        ))  # fmt: skip
        assert held.reason == "unknown_reference"
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    page = c.get(f"/workbench/institutions/{school}?lang=zh").text
    listed = _text(page.split('id="susp-h"', 1)[1].split("</section>", 1)[0])
    assert "付款附言与本机构的任何报名均不匹配" in listed, listed
    assert "银行流水号 SUSP-NEWCOMER-1" in listed
    assert "unknown_reference" not in listed
