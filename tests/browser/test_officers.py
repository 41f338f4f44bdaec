"""An officer in a real headless Chromium (issue 32): signing in with the password and the
second factor (a wrong code refused in the page's language, the right one admitted, the header
naming the person); their account page and, for an office's admin, the officers page — a new
officer created with their QR code — checked by axe and for sideways scrolling in Chinese and
English on a desktop and at 360 px."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest

from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.pages import i18n
from service.registry import credentials, officers
from tests.browser.axe import assert_clean
from tests.browser.conftest import Workbench, needs_chromium
from tools import screenshots

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]


def _officer(wb: Workbench, role: str) -> officers.Created:
    """An officer of the showcase's Changchun office, made in its database with the served
    service's key (their TOTP secret is kept encrypted under it)."""

    def make(s: Any) -> officers.Created:
        office = credentials.regulator_by_token(s, wb.shown.tokens["220100"])
        return officers.create_officer(s, regulator=office, name="王晓明", role=role,
                                       now=datetime.now(UTC), secret_key=screenshots.SECRET,
                                       actor="test")  # fmt: skip

    engine = make_engine(wb.url)
    try:
        return run_in_transaction(make_sessionmaker(engine), make)
    finally:
        engine.dispose()


def _page(browser: Any, width: int, lang: str) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  locale="zh-CN" if lang == "zh" else "en-GB")  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def _sign_in(page: Any, wb: Workbench, made: officers.Created, code: str, lang: str) -> None:
    page.goto(f"{wb.base}/workbench/sign-in?lang={lang}")
    page.fill("#username", made.username)
    page.fill("#password", made.password)
    page.fill("#totp", code)
    page.click("form.stack button[type=submit]")


def test_an_officer_signs_in_with_the_second_factor(browser: Any, workbench: Workbench) -> None:
    made = _officer(workbench, "officer")
    page = _page(browser, 1280, "zh")
    totp = pyotp.TOTP(made.totp_secret)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    _sign_in(page, workbench, made, wrong, "zh")
    page.wait_for_url(re.compile(r".*/workbench/sign-in.*"))
    refused = i18n.gettext("zh")("The username, password or code is wrong.")
    assert page.locator(".problem").inner_text() == refused
    _sign_in(page, workbench, made, totp.now(), "zh")
    page.wait_for_url(f"{workbench.base}/workbench")
    assert page.locator("[data-testid=account-link]").inner_text() == "王晓明"
    # The same code again is refused: a code is good once.
    other = _page(browser, 1280, "zh")
    _sign_in(other, workbench, made, totp.now(), "zh")
    other.wait_for_url(re.compile(r".*/workbench/sign-in.*"))
    page.click("[data-testid=account-link]")
    page.wait_for_url(f"{workbench.base}/workbench/account")
    page.click("form[action='/workbench/account/sign-out-everywhere'] button")
    page.wait_for_url(re.compile(r".*/workbench/sign-in.*"))
    page.goto(f"{workbench.base}/workbench")
    assert "/workbench/sign-in" in page.url


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [1280, 360])
def test_the_account_and_officers_pages_are_clean_at_every_width(
    browser: Any, workbench: Workbench, lang: str, width: int
) -> None:
    admin = _officer(workbench, "admin")
    page = _page(browser, width, lang)
    _sign_in(page, workbench, admin, pyotp.TOTP(admin.totp_secret).now(), lang)
    page.wait_for_url(f"{workbench.base}/workbench")
    page.goto(f"{workbench.base}/workbench/officers")
    page.fill("#o-name", "李娜")
    page.click("form[action='/workbench/officers'] button[type=submit]")
    page.wait_for_selector("[data-testid=created] svg")
    page.goto(f"{workbench.base}/workbench/account")
    page.click("form[action='/workbench/account/totp'] button")
    page.wait_for_selector("[data-testid=qr] svg")
    for name in ("officers", "account"):
        page.goto(f"{workbench.base}/workbench/{name}")
        assert_clean(page, f"{name} {lang} {width}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width}"
