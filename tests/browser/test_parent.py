"""The parent's page on a phone (360×740, touch), against the service and the bank simulator
as real processes: sign in by the institution's link, dispute a lesson, ask for part of the
money back and see the exact amount first, see it paid once the bank executes it; a refund the
bank rejects is shown as failed with what happens next; axe finds nothing."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from service.kit.clock import SHANGHAI
from tests import factories
from tests.browser.axe import assert_clean
from tests.browser.conftest import needs_chromium
from tests.processes import cli, free_port, start, wait_until

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]
SECRET = "parent-browser-secret-0123456789"
PHONE = {"width": 360, "height": 740}


@dataclass
class Stack:
    base: str
    api: httpx.Client
    sim: httpx.Client
    regulator: dict[str, str]
    institution: dict[str, str]
    course_id: str
    escrow: str
    url: str  # its database

    def enrolled(self, lessons: int, amount: str) -> dict[str, Any]:
        """An enrollment, paid at the bank simulator's counter."""
        made = self.api.post("/api/v1/enrollments", headers=self.institution, json={
            "course_id": self.course_id, "student_ref": "kid", "lessons": lessons,
            "amount": amount})  # fmt: skip
        assert made.status_code == 201, made.text
        e: dict[str, Any] = made.json()
        paid = self.sim.post("/sim/pay", json={"account_no": self.escrow,
            "payment_reference": e["payment_reference"], "amount": e["amount_due"]})  # fmt: skip
        assert paid.json()["status_code"] == 201, paid.text
        return e

    def report(self, enrollment_id: str, lessons: int) -> None:
        r = self.api.post(
            f"/api/v1/enrollments/{enrollment_id}/consumptions",
            headers=self.institution,
            json={"lessons": lessons, "occurred_at": datetime.now(SHANGHAI).isoformat()},
        )
        assert r.status_code == 201, r.text

    def accept_refunds(self) -> None:
        """The institution accepts what is asked of it; the bank is then instructed."""
        listed = self.api.get("/api/v1/refunds?status=requested", headers=self.institution)
        for r in listed.json()["items"]:
            answer = self.api.post(f"/api/v1/refunds/{r['id']}/respond", headers=self.institution,
                                   json={"decision": "accept", "reason": "agreed"})  # fmt: skip
            assert answer.status_code == 200, answer.text
        self.api.post("/api/v1/jobs/instruction_delivery/run", headers=self.regulator, json={})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("parent")
    api_port, sim_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/parent.db", "ENVIRONMENT": "test",
           "SECRET_KEY": SECRET, "LOG_SIGNING_KEY": "ab" * 32, "SCHEDULER_ENABLED": "false", "LOG_LEVEL": "WARNING",
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}"}  # fmt: skip
    cli(env, "migrate")
    token = cli(env, "regulator", "create", "--name", "Changchun", "--region", "220100")
    bank = json.loads(cli(env, "bank", "create", "--name", "吉林银行", "--code", "JLB",
        "--instruction-url", f"http://127.0.0.1:{sim_port}/instructions"))  # fmt: skip
    procs = [
        start([sys.executable, "-m", "service.cli", "serve", "--port", str(api_port),
               "--no-scheduler"], env, str(tmp / "api.log")),
        start([sys.executable, "-m", "tools.cli", "bank-sim", "--port", str(sim_port),
               "--service-url", f"http://127.0.0.1:{api_port}", "--bank-id", bank["bank_id"],
               "--secret", bank["secret"]], env, str(tmp / "sim.log")),
    ]  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    api = httpx.Client(base_url=base, timeout=30)
    sim = httpx.Client(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    try:
        wait_until(lambda: api.get("/readyz").status_code == 200, 60, "the API")
        wait_until(lambda: sim.get("/sim/accounts").status_code == 200, 30, "the simulator")
        reg = {"Authorization": f"Bearer {token}"}
        yield _seeded(base, api, sim, reg, bank["bank_id"], env["DATABASE_URL"])
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        api.close()
        sim.close()


def _seeded(
    base: str, api: httpx.Client, sim: httpx.Client, reg: dict[str, str], bank_id: str, url: str
) -> Stack:
    body = factories.institution_body(bank_id, region="220102", name="长春市朝阳区启明学科培训学校")
    made = api.post("/api/v1/institutions", headers=reg, json=body)
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['api_key']}"}
    sim.post("/sim/accounts", json={"account_no": body["escrow_account_no"]})
    start_day = (datetime.now(SHANGHAI).date() + timedelta(days=1)).isoformat()
    course = api.post("/api/v1/courses", headers=key, json=factories.course_body(start_day, n=30))
    assert course.json()["status"] == "approved", course.text
    return Stack(base, api, sim, reg, key, course.json()["id"], body["escrow_account_no"], url)


def _phone(browser: Any, lang: str = "zh") -> Any:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True,
                                  device_scale_factor=2, locale="zh-CN")  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15000)
    return page


def _sign_in_by_link(page: Any, stack: Stack, e: dict[str, Any]) -> None:
    page.goto(e["parent_link"])  # the public address: PUBLIC_BASE_URL
    assert page.locator("#enrollment_id").count() == 0  # the link carries the id
    page.fill("#access_code", e["access_code"])
    page.locator("button[type=submit]").tap()
    page.wait_for_selector("[data-testid=figures]")


def _figure(page: Any, name: str) -> str:
    return str(page.inner_text(f"[data-testid={name}]")).strip()


def _no_sideways_scroll(page: Any) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the page is {wide} px wide"


def test_dispute_then_part_refund_paid_by_the_bank(browser: Any, stack: Stack) -> None:
    e = stack.enrolled(10, "200.00")
    stack.report(e["id"], 1)
    stack.report(e["id"], 2)
    page = _phone(browser)
    _sign_in_by_link(page, stack, e)
    assert _figure(page, "paid") == "¥200.00" and _figure(page, "used") == "¥60.00"
    assert_clean(page, "parent page, zh, 360")
    _no_sideways_scroll(page)
    first = page.locator("[data-testid=lesson]").first
    first.locator("summary").tap()
    first.locator("textarea").fill("那天孩子生病没有去上课")
    first.locator("button[type=submit]").tap()
    page.wait_for_selector("[data-testid=lesson][data-status=disputed]")
    assert _figure(page, "used") == "¥40.00" and _figure(page, "disputed") == "¥20.00"
    page.fill("#lessons-n", "3")
    page.locator("#refund ~ form button, section:has(#refund) button").first.tap()
    assert page.inner_text("[data-testid=refund-amount]").strip() == "¥60.00"  # before asking
    assert_clean(page, "refund confirmation, zh, 360")
    page.fill("#reason", "搬家了")
    page.locator("form[action='/parent/refunds'] button").tap()
    page.wait_for_selector("[data-testid=refund][data-status=requested]")
    assert _figure(page, "refunding") == "¥60.00" and _figure(page, "refunded") == "¥0.00"
    page.reload()  # findable after a reload, told truthfully: requested, not refunded
    assert page.locator("[data-testid=refund]").first.get_attribute("data-status") == "requested"
    stack.accept_refunds()
    _reload_until(page, "[data-testid=refund][data-status=paid]")
    assert _figure(page, "refunded") == "¥60.00" and _figure(page, "refunding") == "¥0.00"
    steps = page.locator("[data-testid=refund] .timeline li").all_inner_texts()
    assert len(steps) == 4, steps  # requested, accepted, instructed, paid
    assert_clean(page, "parent page after a paid refund, zh, 360")


def test_a_refund_the_bank_rejects_is_shown_as_failed(browser: Any, stack: Stack) -> None:
    e = stack.enrolled(5, "100.00")
    page = _phone(browser)
    _sign_in_by_link(page, stack, e)
    page.goto(stack.base + "/parent/refund?lessons=2")
    page.fill("#reason", "不想上了")
    page.locator("form[action='/parent/refunds'] button").tap()
    page.wait_for_selector("[data-testid=refund][data-status=requested]")
    stack.sim.post("/sim/behaviour", json={"reject_next": 1})
    stack.accept_refunds()
    _reload_until(page, "[data-testid=refund][data-status=failed]")
    told = page.inner_text("[data-testid=next-step]")
    assert "监管部门" in told and "退款" in page.inner_text("#refunds")
    assert _figure(page, "refundable").startswith("¥100.00")  # the lessons are back
    page.goto(stack.base + "/parent?lang=en")
    assert "The bank could not pay it" in page.inner_text("[data-testid=next-step]")
    assert_clean(page, "parent page with a failed refund, en, 360")
    _no_sideways_scroll(page)


def test_a_complaint_is_filed_and_the_public_record_shown(browser: Any, stack: Stack) -> None:
    e = stack.enrolled(2, "40.00")
    page = _phone(browser)
    _sign_in_by_link(page, stack, e)
    assert "白名单" in _figure(page, "list") and "吉林银行" in page.inner_text("#record ~ dl")
    page.select_option("#category", "asked_to_pay_off_platform")
    page.fill("#text", "老师让我们微信转账续费")
    page.locator("form[action='/parent/complaints'] button").tap()
    page.wait_for_selector(".flash")
    filed = _rows(
        stack.url, "select category, text from complaints where enrollment_id = :e", e=e["id"]
    )
    assert filed == [("asked_to_pay_off_platform", "老师让我们微信转账续费")]


def test_the_bank_day_and_a_message_keep_to_the_parent_column(browser: Any, stack: Stack) -> None:
    """A newcomer's first hour: at 360 px the bank's day broke as "2026-" / "12-06" under a
    long balance, and the page's message box spanned the desktop window beside a 40rem column."""
    e = stack.enrolled(10, "200.00")
    yesterday = (datetime.now(SHANGHAI).date() - timedelta(days=1)).isoformat()
    sent = stack.sim.post("/sim/statements", json={"date": yesterday, "accounts": [stack.escrow]})
    assert sent.status_code == 200, sent.text
    page = _phone(browser)
    _sign_in_by_link(page, stack, e)
    page.set_viewport_size({"width": 320, "height": 740})  # the smallest phone still sold
    assert yesterday in _figure(page, "bank-balance")
    lines = page.evaluate(
        """(day) => { const dd = document.querySelector('[data-testid=bank-balance]');
        const walk = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
          const at = n.data.indexOf(day); if (at < 0) continue;
          const r = document.createRange(); r.setStart(n, at); r.setEnd(n, at + day.length);
          return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; } }""",
        yesterday,
    )
    assert lines == 1, f"the bank's day is drawn on {lines} lines"
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(stack.base + "/parent/refund?lessons=999")  # refused: a message on the page
    page.wait_for_selector(".problem")
    box, column = page.locator(".problem").bounding_box(), page.locator(".parent").bounding_box()
    assert box["x"] >= column["x"] - 1 and box["width"] <= column["width"] + 1, (box, column)


def test_a_wrong_code_is_refused_and_nothing_is_shown(browser: Any, stack: Stack) -> None:
    e = stack.enrolled(1, "20.00")
    page = _phone(browser)
    page.goto(e["parent_link"])  # the public address: PUBLIC_BASE_URL
    page.fill("#access_code", "WRONGCODE1")
    page.locator("button[type=submit]").tap()
    page.wait_for_selector(".problem")
    assert page.locator("[data-testid=figures]").count() == 0
    assert_clean(page, "parent sign-in with a refusal, zh, 360")
    qr = stack.api.get(e["parent_qr"])
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")


def _rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql), params)]
    finally:
        engine.dispose()


def _reload_until(page: Any, selector: str, timeout: float = 30) -> None:
    def shown() -> bool:
        page.reload()
        return bool(page.locator(selector).count())

    wait_until(shown, timeout, selector)
