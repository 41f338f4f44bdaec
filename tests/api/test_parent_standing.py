# ruff: noqa: F811  (the `site` fixture is imported, and named by every test)
"""What the parent's page says of the institution holding their money (issue 30 item 7), on
SQLite and PostgreSQL: its public status, a warning as the region's rule discloses it, what the
bank last reported against what the account should hold, "may ask for a refund" rather than a
promise; and the complaints the parent filed, with where each stands."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.flows.models import Enrollment, LatestStatement
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker

# The parent pages' site (a showcase database), as a fixture of this module's own.
from service.pages.workbench.common import SUBMITTED
from service.policy import region_settings as policy
from service.registry.models import Institution
from service.risk.models import Alert, InstitutionRisk
from tests.api.approving import approve_pending, office_of_region
from tests.api.test_parent_pages import Site, signed_in, site  # noqa: F401
from tests.api.told import told


def _institution(s: Session, site: Site) -> Institution:
    e = s.get(Enrollment, site.shown.parent[0])
    assert e is not None
    inst = s.get(Institution, e.institution_id)
    assert inst is not None
    return inst


def _change(site: Site, **what: Any) -> None:
    """Set the parent's institution's status, closing day, risk, bank balance or rules."""
    now = datetime.now(UTC)
    with make_sessionmaker(site.engine).begin() as s:
        inst = _institution(s, site)
        for field in ("status", "closing_on"):
            if field in what:
                setattr(inst, field, what[field])
        if "level" in what:
            risk = s.get(InstitutionRisk, inst.id) or InstitutionRisk(institution_id=inst.id)
            risk.level, risk.score, risk.as_of = what["level"], what["score"], now
            s.add(risk)
        if "bank" in what:
            row = s.get(LatestStatement, inst.escrow_account_no)
            assert row is not None, "the showcase's school has a statement"
            row.closing_balance = what["bank"]
        for key in ("parent_warning_from", "parent_warning_score"):
            if key in what:
                policy.put(s, region_code=inst.region_code, key=key, value=what[key], now=now)


def _page(c: Any, lang: str = "en") -> str:
    page = c.get("/parent", params={"lang": lang})
    assert page.status_code == 200
    return str(page.text)


def _shown(page: str, testid: str) -> str | None:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(?:p|dd)>', page, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else None


def test_the_page_says_how_safe_the_money_is_never_that_it_is_there(site: Site) -> None:
    """A school ¥56k short showed its parents "白名单 · 正常 · 现在可退 ¥…". Now: frozen, winding
    down, on the warning list (by default from `high`, without the score), the bank's last
    balance against what the account should hold, and "may ask for a refund"."""
    c, _csrf = signed_in(site)
    closing = local_date(datetime.now(UTC)) + timedelta(days=30)
    _change(site, status="frozen", closing_on=closing, level="high", score=55,
            bank=Decimal("100.00"))  # fmt: skip
    page = _page(c)
    assert "frozen" in (_shown(page, "notice-frozen") or "")
    assert closing.isoformat() in (_shown(page, "notice-closing") or "")
    warning = _shown(page, "notice-warning") or ""
    assert "High" in warning and "55" not in warning  # the level, not the score
    assert "less than" in (_shown(page, "notice-short") or "")
    assert "not a promise" in (_shown(page, "notice-short") or "")
    assert (_shown(page, "bank-balance") or "").startswith("¥100.00")
    owed, held = _shown(page, "owed") or "", _shown(page, "should-hold") or ""
    assert owed.startswith("¥") and held.startswith("¥")
    assert Decimal(owed[1:].replace(",", "")) <= Decimal(held[1:].replace(",", ""))
    coverage = _shown(page, "coverage") or ""
    assert coverage.endswith("%") and Decimal(coverage[:-1]) < 100
    assert "Frozen" in (_shown(page, "status") or "")
    assert "You may ask for a refund of" in page and "Refundable now" not in page
    zh = _page(c, "zh")
    assert "可申请退款" in zh and "现在可退" not in zh and "已冻结" in zh
    confirm = c.get("/parent/refund", params={"lessons": 1, "lang": "en"}).text
    assert "not a promise" in confirm and "You will get back" not in confirm


def test_what_a_region_discloses_about_warning_levels_is_its_own_rule(site: Site) -> None:
    c, _csrf = signed_in(site)
    _change(site, status="active", closing_on=None, level="medium", score=31)
    assert _shown(_page(c), "notice-warning") is None  # the default: from `high`
    _change(site, parent_warning_from="medium", parent_warning_score=True)
    warning = _shown(_page(c), "notice-warning") or ""
    assert "Medium" in warning and "31" in warning
    _change(site, parent_warning_from="never", level="critical", score=90)
    assert _shown(_page(c), "notice-warning") is None


def test_a_region_rule_for_parents_takes_only_its_values(site: Site) -> None:
    from service.errors import DomainError

    with make_sessionmaker(site.engine).begin() as s:
        inst = _institution(s, site)
        for key, bad in (("parent_warning_from", "loud"), ("parent_warning_score", "yes")):
            try:
                policy.put(s, region_code=inst.region_code, key=key, value=bad,
                           now=datetime.now(UTC))  # fmt: skip
            except DomainError as exc:
                assert exc.code == "validation_error"
            else:
                raise AssertionError(f"{key}={bad!r} was taken")


def _cases(site: Site, *, status: str) -> None:
    """Close every case on the parent's institution (a day ago), or open one now."""
    now = datetime.now(UTC)
    with make_sessionmaker(site.engine).begin() as s:
        inst = _institution(s, site)
        for case in s.query(Alert).filter(Alert.institution_id == inst.id,
                                          Alert.status != "resolved"):  # fmt: skip
            case.status, case.resolved_at = "resolved", now - timedelta(days=1)
        if status == "open":
            s.add(Alert(id=f"alr_{uuid.uuid4().hex}", institution_id=inst.id, level="high",
                        score=55, status="open", opened_at=now, indicators={}))  # fmt: skip
        elif status == "closed_now":
            for case in s.query(Alert).filter(Alert.institution_id == inst.id):
                case.resolved_at = now + timedelta(minutes=1)


def _card(c: Any) -> str:
    return _page(c).split('data-testid="complaint"', 1)[1].split("</li>", 1)[0]


def test_the_parent_sees_the_complaints_they_filed_and_where_each_stands(site: Site) -> None:
    c, csrf = signed_in(site)
    _cases(site, status="none")
    r = c.post("/parent/complaints", data={"category": "quality", "text": "老师经常换人",
                                           "csrf": csrf})  # fmt: skip
    assert r.status_code == 303
    card = _card(c)
    assert "老师经常换人" in card and 'data-status="received"' in card
    assert "Received by the regulator" in card
    _cases(site, status="open")
    card = _card(c)
    assert 'data-status="followed_up"' in card and "looking into" in card
    _cases(site, status="closed_now")
    assert 'data-status="concluded"' in _card(c)
    mine = site.one("select count(*) from complaints where enrollment_id = :e",
                    e=site.shown.parent[0])  # fmt: skip
    assert _page(c).count('data-testid="complaint"') == mine  # this family's, no one else's


def test_the_office_sets_what_its_parents_are_told_on_the_rules_page(site: Site) -> None:
    from tests.api.test_workbench_pages import sign_in

    c, _csrf = signed_in(site)
    _change(site, status="active", closing_on=None, level="medium", score=31,
            parent_warning_from="high", parent_warning_score=False)  # fmt: skip
    assert _shown(_page(c), "notice-warning") is None
    with make_sessionmaker(site.engine)() as s:
        region = _institution(s, site).region_code
    office = site.client()
    csrf = sign_in(office, site.shown.tokens["220000"])
    today = local_date(datetime.now(UTC)).isoformat()
    r = office.post("/workbench/rules/parents", data={
        "csrf": csrf, "region_code": region, "warning_from": "medium", "with_score": "true",
        "effective_from": today, "reason": "本市家长反映需要更早的提示"})  # fmt: skip
    assert told(office, r) == ("done", SUBMITTED)  # four eyes: a second person approves
    results = approve_pending(site.engine, office_of_region(site.engine, "220000"))
    assert results and all(x and x["ok"] for x in results)  # the showcase may hold others
    warning = _shown(_page(c), "notice-warning") or ""
    assert "Medium" in warning and "31" in warning
    rules = office.get("/workbench/rules", params={"lang": "en"}).text
    assert "本市家长反映需要更早的提示" in rules
    bad = office.post("/workbench/rules/parents", data={
        "csrf": csrf, "region_code": region, "warning_from": "loud",
        "effective_from": today, "reason": "x"})  # fmt: skip
    assert bad.status_code == 422
