"""Four eyes in a real headless Chromium (issue 32): an officer signs in as a person (username,
password, TOTP), freezes a school (at once) and asks to unfreeze it ("submitted for
approval"); the office's chief signs in, follows the overview's count to the approvals queue,
reads what the request will do and approves it with a note; the school is active again. The
queue in Chinese and English, on a desktop and at 360 px: axe finds nothing, nothing scrolls
sideways."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.registry import officers
from service.registry.models import Institution, Regulator
from tests.browser.axe import assert_clean
from tests.browser.conftest import Workbench, needs_chromium
from tools import screenshots

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]
REASON = "机构已补足托管资金，恢复招生"
NOTE = "已核对银行对账单，同意解冻"


def _person(wb: Workbench, role: str) -> officers.Created:
    """An officer of Changchun's office (the showcase's 220100), made in its database."""

    def make(s: Any) -> officers.Created:
        office = s.scalar(select(Regulator).where(Regulator.region_code == "220100"))
        return officers.create_officer(
            s, regulator=office, name=f"长春{role}", role=role, now=datetime.now(UTC),
            secret_key=screenshots.SECRET, actor="test",
        )  # fmt: skip

    made: officers.Created = run_in_transaction(make_sessionmaker(make_engine(wb.url)), make)
    return made


def _page(browser: Any, *, width: int = 1280, lang: str = "zh") -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 800}, locale="zh-CN" if lang == "zh" else "en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _sign_in(page: Any, wb: Workbench, who: officers.Created, lang: str = "zh") -> None:
    page.goto(f"{wb.base}/workbench/sign-in?lang={lang}")
    page.fill("#username", who.username)
    page.fill("#password", who.password)
    page.fill("#totp", pyotp.TOTP(who.totp_secret).now())
    page.locator("#username").locator("xpath=ancestor::form").locator("button[type=submit]").click()
    page.wait_for_url(f"{wb.base}/workbench")


def _status(wb: Workbench, inst: str) -> str:
    with make_sessionmaker(make_engine(wb.url))() as s:
        found = s.get(Institution, inst)
        assert found is not None
        return found.status


def test_an_unfreeze_takes_two_people(browser: Any, workbench: Workbench) -> None:
    inst = workbench.shown.institutions["critical"]
    officer, chief = _person(workbench, "officer"), _person(workbench, "supervisor")
    page = _page(browser, lang="en")
    _sign_in(page, workbench, officer, "en")
    page.goto(f"{workbench.base}/workbench/institutions/{inst}")
    page.fill("#reason", "托管账户资金被转出")
    page.get_by_role("button", name="Freeze").click()
    assert page.locator(".flash").inner_text() == "Frozen."  # protective: at once
    page.fill("#reason", REASON)
    page.get_by_role("button", name="Unfreeze").click()
    assert page.locator(".flash").inner_text() == (
        "Submitted for approval: a supervisor decides it in the approvals queue."
    )
    assert _status(workbench, inst) == "frozen"
    page.goto(f"{workbench.base}/workbench/approvals")
    mine = page.locator("article.approval", has_text=REASON)
    assert "Only a supervisor" in mine.inner_text() and mine.locator("form").count() == 0

    boss = _page(browser, lang="zh")
    _sign_in(boss, workbench, chief, "zh")
    tile = boss.locator("[data-testid=approvals-pending]")
    assert int(tile.locator("strong").inner_text()) >= 1
    tile.click()
    request = boss.locator("article.approval", has_text=REASON)
    text = request.inner_text()
    assert "解除机构冻结" in text and "南关区启明学科培训学校" in text and "冻结" in text
    request.locator("textarea").fill(NOTE)
    request.get_by_role("button", name="批准并立即执行").click()
    assert boss.locator(".flash").inner_text() == "已批准，已执行。"
    assert _status(workbench, inst) == "active"
    boss.goto(f"{workbench.base}/workbench/approvals?status=approved")
    done = boss.locator("article.approval", has_text=REASON).inner_text()
    assert NOTE in done and "已执行" in done
    boss.goto(f"{workbench.base}/workbench/audit")
    log = boss.inner_text("main table")
    assert "解冻了机构" in log and "批准了申请（双人复核）" in log


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [1280, 360])
def test_the_queue_is_clean_and_fits_at_every_width(
    browser: Any, workbench: Workbench, lang: str, width: int
) -> None:
    """With a request of each kind waiting: an unfreeze, a threshold change, a price guide."""
    chief = _person(workbench, "supervisor")
    page = _page(browser, width=width, lang=lang)
    _sign_in(page, workbench, chief, lang)
    inst = workbench.shown.institutions["disputed"]
    page.goto(f"{workbench.base}/workbench/institutions/{inst}")
    if page.locator("form[action$='/freeze']").count():
        page.fill("#reason", "x")
        page.locator("form[action$='/freeze'] button").click()
    page.fill("#reason", REASON)
    page.locator("form[action$='/unfreeze'] button").click()
    page.goto(f"{workbench.base}/workbench/approvals")
    assert page.locator("article.approval").count() >= 1
    assert_clean(page, f"approvals {lang} {width}")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width, f"the approvals queue is {wide} px wide at {width}"
