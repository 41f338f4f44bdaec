"""The wind-down's pages in a real headless Chromium (issue 34): the showcase's school of the
parent wound up (absconded) and a round made, then the workbench's wind-down page, the
institution's page and the parent's page read in Chinese and in English, on a desktop and at
360 px: nothing wider than the phone, no raw id or code where a person reads words.

`TG_SHOTS=dir` keeps a photograph of each page there (a person looks at them)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.flows import rounds, winddowns
from service.flows.models import Enrollment
from service.kit.clock import utcnow
from service.kit.db import make_engine, make_sessionmaker, session_scope
from service.registry.models import Regulator
from tests.browser.conftest import needs_chromium
from tools import screenshots, showcase

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]
WIDTHS = {"desktop": 1280, "phone": 360}
# What a person never reads on these pages: the service's ids.
RAW_ID = re.compile(r"\b(wdn|wdr|wdp|clm|ins|inst|enr|reg)_[0-9a-f]{8,}")


@dataclass
class WoundUp:
    base: str
    shown: showcase.Showcase
    wind_down_id: str
    institution_id: str


@pytest.fixture(scope="module")
def wound_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WoundUp]:
    url = f"sqlite:///{tmp_path_factory.mktemp('winddown')}/showcase.db"
    shown = screenshots.prepare(url)
    engine = make_engine(url)
    now = utcnow()
    with session_scope(make_sessionmaker(engine)) as s:
        inst_id = s.scalar(
            select(Enrollment.institution_id).where(Enrollment.id == shown.parent[0])
        )
        assert inst_id is not None
        province = s.scalars(select(Regulator).where(Regulator.region_code == "220000")).first()
        assert province is not None
        wd = winddowns.open_wind_down(
            s, regulator=province, institution_id=inst_id, reason=winddowns.Reason.ABSCONDED,
            effective_at=now - timedelta(hours=1), note="负责人失联，校门已关闭", now=now,
        )  # fmt: skip
        rounds.make_round(s, regulator=province, wind_down_id=wd.id, amount=None, now=now)
        wd_id = wd.id
    engine.dispose()
    with screenshots.served(url) as base:
        yield WoundUp(base, shown, wd_id, inst_id)


def _shot(page: Any, name: str) -> None:
    where = os.environ.get("TG_SHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


def _fits(page: Any, width: int, what: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= width + 1, (what, wide)


def _reads(page: Any, lang: str, what: str) -> None:
    text = page.locator("main").inner_text()
    assert not RAW_ID.search(text), (what, RAW_ID.search(text))
    if lang == "zh":
        assert "absconded" not in text and "instructed" not in text, what


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_workbench_shows_the_wind_down(
    browser: Any, wound_up: WoundUp, lang: str, device: str
) -> None:
    width = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  locale="zh-CN" if lang == "zh" else "en-GB",
                                  timezone_id="Asia/Shanghai")  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{wound_up.base}/workbench/sign-in?lang={lang}")
    screenshots.sign_in(page, wound_up.base, wound_up.shown.tokens["220000"])
    for name, path in (
        ("winddown", f"/workbench/wind-downs/{wound_up.wind_down_id}"),
        ("winddown-institution", f"/workbench/institutions/{wound_up.institution_id}"),
    ):
        page.goto(wound_up.base + path)
        _shot(page, f"{name}-{lang}-{device}")
        _fits(page, width, path)
        _reads(page, lang, path)
    page.goto(f"{wound_up.base}/workbench/wind-downs/{wound_up.wind_down_id}")
    main = page.locator("main").inner_text()
    assert ("卷款跑路" if lang == "zh" else "Absconded") in main
    assert ("债权合计" if lang == "zh" else "Claims in all") in main
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_parent_sees_their_claim(
    browser: Any, wound_up: WoundUp, lang: str, device: str
) -> None:
    phone = device == "phone"
    width = WIDTHS[device]
    context = browser.new_context(viewport={"width": width, "height": 740 if phone else 800},
                                  has_touch=phone, is_mobile=phone,
                                  locale="zh-CN" if lang == "zh" else "en-GB")  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    enrollment, code = wound_up.shown.parent
    page.goto(f"{wound_up.base}/parent/e/{enrollment}?lang={lang}")
    page.fill("#access_code", code)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=claim]")
    _shot(page, f"winddown-parent-{lang}-{device}")
    _fits(page, width, "/parent")
    _reads(page, lang, "/parent")
    main = page.locator("main").inner_text()
    assert ("您的债权" if lang == "zh" else "Your claim") in main
    # No refund to ask for in a wind-down: the page does not offer one among the figures.
    assert ("可申请退款" if lang == "zh" else "You may ask for a refund") not in main
    context.close()
