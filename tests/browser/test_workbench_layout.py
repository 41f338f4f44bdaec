"""The workbench at 360 px in a real headless Chromium (issue 30, item 8): the 90-day charts
are drawn for the phone and fit it, the case queue's institution names keep a readable width,
an account number is never broken across lines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import Workbench, needs_chromium
from tools import screenshots

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]


def _phone(browser: Any, wb: Workbench, lang: str) -> Any:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale="zh-CN" if lang == "zh" else "en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{wb.base}/workbench/sign-in?lang={lang}")
    screenshots.sign_in(page, wb.base, wb.shown.tokens["220100"])
    return page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_charts_fit_a_phone(browser: Any, workbench: Workbench, lang: str) -> None:
    page = _phone(browser, workbench, lang)
    critical = workbench.shown.institutions["critical"]
    for path in ("/workbench", f"/workbench/institutions/{critical}"):
        page.goto(workbench.base + path)
        shown = page.locator("svg.chart:visible")
        assert shown.count() >= 1, path
        for n in range(shown.count()):
            box = shown.nth(n).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360, path
            # Nothing of it hidden to the right of its figure (it used to scroll, cut off).
            overflow = shown.nth(n).evaluate(
                "svg => svg.closest('figure').scrollWidth - svg.closest('figure').clientWidth"
            )
            assert overflow <= 1, (path, overflow)
            # Drawn for the phone: its dates' text is no smaller than 9 px on the screen.
            scale = shown.nth(n).evaluate(
                "svg => svg.getBoundingClientRect().width / svg.viewBox.baseVal.width"
            )
            assert 12 * scale >= 9, (path, scale)
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_case_queue_keeps_names_readable_and_accounts_whole(
    browser: Any, workbench: Workbench, lang: str
) -> None:
    page = _phone(browser, workbench, lang)
    page.goto(f"{workbench.base}/workbench/alerts")
    names = page.locator("tbody th[scope=row] a")
    assert names.count() >= 3
    for n in range(names.count()):
        width = names.nth(n).evaluate("a => a.closest('th').getBoundingClientRect().width")
        size = names.nth(n).evaluate("a => parseFloat(getComputedStyle(a).fontSize)")
        assert width >= 8 * size, (names.nth(n).inner_text(), width)  # was two characters
    critical = workbench.shown.institutions["critical"]
    page.goto(f"{workbench.base}/workbench/institutions/{critical}")
    accounts = page.locator("dd.code")
    assert accounts.count() >= 1
    for n in range(accounts.count()):
        lines = accounts.nth(n).evaluate(
            "dd => { const r = document.createRange(); r.selectNodeContents(dd);"
            " return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"
        )
        box = accounts.nth(n).bounding_box()
        assert lines == 1 and box is not None and box["x"] + box["width"] <= 360
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_overviews_tables_keep_names_readable(
    browser: Any, workbench: Workbench, lang: str
) -> None:
    """The breaks' institutions and the districts squeezed to two or three characters a line
    ("龙山/区") at 360 px: a district is one line, an institution at least eight characters wide."""
    page = _phone(browser, workbench, lang)
    page.goto(f"{workbench.base}/workbench")
    districts = page.locator("#districts-h ~ div tbody th[scope=row] a")
    assert districts.count() >= 2
    for n in range(districts.count()):
        lines = districts.nth(n).evaluate(
            "a => new Set([...a.getClientRects()].map(x => Math.round(x.top))).size"
        )
        assert lines == 1, districts.nth(n).inner_text()
    names = page.locator("tbody th.name[scope=row] a")
    for n in range(names.count()):
        width = names.nth(n).evaluate("a => a.closest('th').getBoundingClientRect().width")
        size = names.nth(n).evaluate("a => parseFloat(getComputedStyle(a).fontSize)")
        assert width >= 8 * size, (names.nth(n).inner_text(), width)
    page.context.close()
