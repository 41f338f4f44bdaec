"""/docs and /redoc draw the API in a browser cut off from the internet (every request off
127.0.0.1 is aborted, and none but a decorative image is even tried), and the front door
passes axe."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.axe import assert_clean
from tests.browser.conftest import Workbench, needs_chromium

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]


def _offline(browser: Any) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("http://127.0.0.1"):
            r.continue_()
        else:
            # ReDoc's footer links its maker's logo from a CDN: an image, nothing it needs.
            if r.request.resource_type != "image":
                outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    return context.new_page(), outside


def test_the_api_documents_itself_offline(browser: Any, workbench: Workbench) -> None:
    page, outside = _offline(browser)
    page.goto(workbench.base + "/docs")
    page.wait_for_selector(".opblock", timeout=20000)
    assert page.locator(".opblock").count() > 40
    page.goto(workbench.base + "/redoc")
    page.get_by_text("/api/v1/bank/deposits").first.wait_for(state="attached", timeout=20000)
    assert outside == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_front_door(browser: Any, workbench: Workbench, lang: str) -> None:
    page, _outside = _offline(browser)
    page.goto(f"{workbench.base}/?lang={lang}")
    assert page.locator("a[href='/parent']").count() == 1
    assert_clean(page, f"front door {lang}")
