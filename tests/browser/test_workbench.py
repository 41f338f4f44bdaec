"""The regulator's workbench in a real headless Chromium against the service as a process:
signing in, working a critical case from the overview to its close, another region kept out,
the English switch, the CSV export, the audit log, keyboard use, and axe-core on every page
in both languages on a desktop and at 360 px."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.pages import i18n
from service.policy import seeds as seeds_module
from tests.browser.axe import assert_clean
from tests.browser.conftest import Workbench, needs_chromium
from tools import screenshots

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]
CJK = re.compile(r"[\u4e00-\u9fff]")
REASON = "托管账户资金被转出，暂停招生待查"  # what the regulator writes: data, in any language
NOTE = "机构已将资金退回托管账户"


def _page(browser: Any, *, width: int = 1280, lang: str = "zh") -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": 800}, locale="zh-CN" if lang == "zh" else "en-GB"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _signed_in(browser: Any, wb: Workbench, region: str = "220100", **kw: Any) -> Any:
    page = _page(browser, **kw)
    page.goto(f"{wb.base}/workbench/sign-in?lang={kw.get('lang', 'zh')}")
    screenshots.sign_in(page, wb.base, wb.shown.tokens[region])
    return page


def _audit_rows(page: Any, wb: Workbench) -> str:
    page.goto(f"{wb.base}/workbench/audit")
    return str(page.inner_text("main table"))


def test_the_workbench_asks_to_sign_in_and_keeps_no_token(
    browser: Any, workbench: Workbench
) -> None:
    page = _page(browser)
    page.goto(f"{workbench.base}/workbench/institutions?level=critical")
    assert "/workbench/sign-in" in page.url
    screenshots.token_form(page, "tgr_not-a-token")
    refused = i18n.gettext("zh")("This token is not a regulator's.")
    assert CJK.search(refused) and page.locator(".problem").inner_text() == refused
    screenshots.token_form(page, workbench.shown.tokens["220100"])
    page.wait_for_url(f"{workbench.base}/workbench/institutions?level=critical")  # back to it
    cookie = next(c for c in page.context.cookies() if c["name"] == "tg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert workbench.shown.tokens["220100"] not in str(page.context.cookies())
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert stored == "[[],[]]"
    page.click(".signout button")
    page.wait_for_url(re.compile(r".*/workbench/sign-in.*"))
    page.goto(f"{workbench.base}/workbench")
    assert "/workbench/sign-in" in page.url  # the session ended on the server


def test_a_regulator_works_a_critical_case_from_the_overview(
    browser: Any, workbench: Workbench
) -> None:
    page = _signed_in(browser, workbench, lang="en")
    page.goto(f"{workbench.base}/workbench")
    critical = page.locator(".tile", has=page.locator(".level-critical"))
    assert critical.locator("strong").inner_text() == "1"
    critical.click()
    row = page.locator("tbody tr", has_text="南关区启明学科培训学校")
    assert (
        page.locator("tbody tr").count() == 1 and row.locator(".level").inner_text() == "Critical"
    )
    row.get_by_role("link", name="南关区启明学科培训学校").click()
    # The evidence behind the shortfall: the statement break, on the same page.
    shortfall = page.locator("tr", has_text="Escrow shortfall")
    shortfall.get_by_role("link", name=re.compile(r"^Statement break")).click()
    assert re.search(r"#brk_[0-9a-f]+$", page.url)
    target = page.locator("#" + page.url.rsplit("#", 1)[1])
    assert "Not in the ledger" in target.inner_text() and "¥1,200.00" in target.inner_text()
    page.get_by_role("link", name="Open the case").click()
    page.get_by_role("button", name="Claim").click()
    assert page.locator(".flash").inner_text() == "The case is yours."
    assert "长春市教育局" in page.locator(".facts").inner_text()
    page.get_by_role("link", name="The institution's file").click()
    page.fill("#reason", REASON)
    page.get_by_role("button", name="Freeze").click()
    assert page.locator(".flash").inner_text() == "Frozen."
    assert "Frozen" in page.locator("main > p").first.inner_text()
    page.get_by_role("link", name="Open the case").click()
    page.select_option("#outcome", "rectified")
    page.fill("#note", NOTE)
    page.get_by_role("button", name="Close the case").click()
    assert page.locator(".flash").inner_text() == "The case is closed."
    page.goto(f"{workbench.base}/workbench/alerts")
    assert "南关区启明学科培训学校" not in page.inner_text("main table")
    page.goto(f"{workbench.base}/workbench/alerts?status=resolved&q=南关区")
    closed = page.locator("tbody tr", has_text="南关区启明学科培训学校")
    assert "Rectified" in closed.inner_text()  # closed cases are kept and found
    log = _audit_rows(page, workbench)
    for action in ("Claimed the case", "Froze the institution", "Closed the case"):
        assert action in log, action
    assert REASON in log and NOTE in log


def test_another_region_cannot_reach_it_by_url(browser: Any, workbench: Workbench) -> None:
    page = _signed_in(browser, workbench, region="220300", lang="en")
    inst = workbench.shown.institutions["critical"]
    for path in (f"/workbench/institutions/{inst}", f"/workbench/alerts/{workbench.shown.case}"):
        response = page.goto(workbench.base + path)
        assert response.status == 404, path
        assert page.locator("h1").inner_text() == "Not found"
        assert "南关区" not in page.inner_text("main")
    page.goto(f"{workbench.base}/workbench/institutions")
    names = page.inner_text("main table")
    assert "铁西区明德艺术培训学校" in names and "南关区" not in names
    # A form of this regulator's own session, aimed at the other region's institution.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    posted = httpx.post(
        f"{workbench.base}/workbench/institutions/{inst}/freeze",
        data={"csrf": csrf, "reason": "not mine"},
        cookies=cookies,
    )
    assert posted.status_code == 404
    page.goto(f"{workbench.base}/workbench/audit")
    assert "not mine" not in page.inner_text("main")


def _data(url: str) -> set[str]:
    """Every text the database holds (names, addresses, what parents and regulators wrote):
    what the pages show as it is, in either language."""
    import sqlite3

    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    found: set[str] = set()
    tables = [r[0] for r in db.execute("select name from sqlite_master where type = 'table'")]
    for table in tables:
        for row in db.execute(f'select * from "{table}"'):
            found.update(v for v in row if isinstance(v, str) and CJK.search(v))
    # The rule packs' citations ship as reference data in code (titles of the texts, their
    # issuers and notes, in Chinese in either language): data, not labels.
    seeds = Path(seeds_module.__file__).read_text(encoding="utf-8")
    found.update(m for m in re.findall(r'"([^"]*)"', seeds) if CJK.search(m))
    return found


def _foreign_runs(text: str, data: set[str]) -> list[str]:
    """Runs of Chinese on an English page that are no data (a whole value, or a long part
    of one): labels left untranslated."""
    words = re.findall(r"[0-9A-Za-z\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+", text)
    # A note joined from parts (the packs' citations: "文号未核实；标题未核实") is judged part by part.
    runs = {p for w in words for p in re.split(r"[；，。]", w) if CJK.search(p)}
    blob = "\n".join(data)
    data = data | {"中文"}  # the switch back names its language in it
    return sorted(r for r in runs if r not in data and not (len(r) >= 4 and r in blob))


def test_english_changes_every_label(browser: Any, workbench: Workbench) -> None:
    """In English no Chinese shows but the data, and in Chinese no English message."""
    english = {k for k in i18n.catalogue("zh") if len(k) >= 8 and " " in k}
    page = _signed_in(browser, workbench, lang="zh")
    for name, path in screenshots.pages(workbench.shown).items():
        page.goto(workbench.base + path + ("&" if "?" in path else "?") + "lang=zh")
        text = str(page.evaluate("document.body.innerText"))
        assert [k for k in english if k in text] == [], name
        page.get_by_role("link", name="English").click()
        page.wait_for_selector("html[lang=en]")  # the English page has loaded: read it
        text = str(page.evaluate("document.body.innerText"))
        assert _foreign_runs(text, _data(workbench.url)) == [], name
        page.get_by_role("link", name="中文").click()
        page.wait_for_selector('html[lang="zh-CN"]')


def test_a_csv_export_has_the_rows_shown(browser: Any, workbench: Workbench) -> None:
    page = _signed_in(browser, workbench, lang="en")
    page.goto(f"{workbench.base}/workbench/institutions")
    page.select_option("#level", "medium")
    page.get_by_role("button", name="Show").click()
    shown = page.locator("tbody th a").all_inner_texts()
    assert len(shown) == 2
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these as CSV").click()
    rows = list(
        csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read()))
    )
    assert [r["Institution"] for r in rows] == shown  # in the page's language, as labelled
    assert {r["Level"] for r in rows} == {"Medium"}


def test_a_case_is_claimed_by_keyboard_alone(browser: Any, workbench: Workbench) -> None:
    page = _signed_in(browser, workbench, lang="en")
    page.goto(f"{workbench.base}/workbench/alerts")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    target = page.get_by_role("link", name=re.compile("^Work on it: 朝阳区"))
    for _ in range(40):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the case link is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/workbench/alerts/alr_.*"))
    claim = page.get_by_role("button", name="Claim")
    for _ in range(40):
        page.keyboard.press("Tab")
        if claim.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("the claim button is not reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".flash")
    assert page.locator(".flash").inner_text() == "The case is yours."


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [1280, 360])
def test_axe_finds_nothing_and_nothing_scrolls_sideways(
    browser: Any, workbench: Workbench, lang: str, width: int
) -> None:
    page = _page(browser, width=width, lang=lang)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{workbench.base}/workbench/sign-in?lang={lang}")
    assert_clean(page, f"sign-in {lang} {width}")
    screenshots.sign_in(page, workbench.base, workbench.shown.tokens["220100"])
    for name, path in screenshots.pages(workbench.shown).items():
        if name == "sign-in":
            continue
        response = page.goto(workbench.base + path)
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert_clean(page, f"{name} {lang} {width}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width}"
    assert errors == []
