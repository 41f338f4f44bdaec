"""The parent's own check of their liability proof (issue 36), in headless Chromium against
the service as a process with two witnesses: on signing in the page fetches its proof and
checks it with WebCrypto alone, and shows, in Chinese, that the parent's money is counted in
the institution's total with the bank's balance and coverage; a tampered root, a wrong log
signature or too few cosignatures served to it are shown as a failed proof with a one-click
complaint that attaches it; a day more than 36 hours old is shown as stale."""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.config import Settings
from service.kit.clock import SHANGHAI
from service.kit.db import make_engine, make_sessionmaker
from service.proofs import keys as log_keys
from service.proofs.cosign import cosign_latest
from service.proofs.daily import publish_day
from tests import factories
from tests.browser.conftest import needs_chromium
from tests.processes import cli, free_port, start, wait_until
from tgproof import note
from tgproof.serve import make_server
from tgproof.witness import Witness, public_vkey

pytestmark = [needs_chromium, pytest.mark.xdist_group("browser")]
SECRET = "proof-browser-secret-0123456789"
LOG_KEY = "cd" * 32
SCHOOL = "长春市南关区明德学科培训学校"


@dataclass
class Family:
    base: str
    enrollment: dict[str, Any]
    settings: Settings


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Family]:
    """A school with one paid enrollment of 1,200.00, a bank statement of the day with
    1,000.00, today's snapshot published and cosigned by two witnesses."""
    tmp = tmp_path_factory.mktemp("proof")
    url = f"sqlite:///{tmp}/proof.db"
    port = free_port()
    base = {"DATABASE_URL": url, "ENVIRONMENT": "test", "SECRET_KEY": SECRET,
            "LOG_SIGNING_KEY": LOG_KEY, "SCHEDULER_ENABLED": "false", "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "RATE_LIMIT_PER_SECOND": "0"}  # fmt: skip
    settings = Settings(environment="test", database_url=url, secret_key=SECRET,
                        log_signing_key=LOG_KEY)  # fmt: skip
    servers, listed = [], []
    for i, name in enumerate(("bank.test/witness", "province.test/witness")):
        key = Ed25519PrivateKey.generate()
        w = Witness(name, key, [log_keys.log_verifier(settings)], str(tmp / f"w{i}.sqlite"))
        server = make_server(w, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        vkey = public_vkey(name, key, note.COSIGNATURE_KEY_TYPE)
        listed.append(f"{vkey}@http://127.0.0.1:{server.server_address[1]}")
    settings = settings.model_copy(update={"log_witnesses": ",".join(listed)})
    env = {**os.environ, **base, "LOG_WITNESSES": settings.log_witnesses}
    cli(env, "migrate")
    token = cli(env, "regulator", "create", "--name", "Changchun", "--region", "220100")
    bank = json.loads(cli(env, "bank", "create", "--name", "吉林银行", "--code", "JLB"))
    proc = start([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                  "--no-scheduler"], env, str(tmp / "api.log"))  # fmt: skip
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        wait_until(lambda: api.get("/readyz").status_code == 200, 60, "the API")
        e = _enrolled(api, {"Authorization": f"Bearer {token}"},
                      factories.BankCred(bank["bank_id"], bank["secret"]))  # fmt: skip
        now = datetime.now(SHANGHAI)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        with sessions.begin() as s:  # today's, so that it is not stale
            publish_day(s, settings, day=now.date(), now=now)
        assert cosign_latest(sessions, settings, now=now)["cosignatures"] == 2
        engine.dispose()
        yield Family(f"http://127.0.0.1:{port}", e, settings)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        api.close()
        for server in servers:
            server.shutdown()
            server.server_close()


def _enrolled(api: httpx.Client, reg: dict[str, str], bank: factories.BankCred) -> dict[str, Any]:
    body = factories.institution_body(bank.id, region="220102", name=SCHOOL)
    made = api.post("/api/v1/institutions", headers=reg, json=body)
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['api_key']}"}
    start_day = (datetime.now(SHANGHAI).date() + timedelta(days=1)).isoformat()
    course = api.post("/api/v1/courses", headers=key, json=factories.course_body(start_day, n=30))
    assert course.json()["status"] == "approved", course.text
    e = api.post("/api/v1/enrollments", headers=key, json={
        "course_id": course.json()["id"], "student_ref": "kid", "lessons": 20,
        "amount": "400.00"}).json()  # fmt: skip
    today = datetime.now(SHANGHAI)
    for path, doc in (
        ("/api/v1/bank/deposits", {"bank_txn_id": "PF-1", "account_no": body["escrow_account_no"],
                                   "payment_reference": e["payment_reference"],
                                   "amount": e["amount_due"], "paid_at": today.isoformat()}),
        ("/api/v1/bank/statements", {"account_no": body["escrow_account_no"],
                                     "statement_date": today.date().isoformat(),
                                     "opening_balance": "0", "closing_balance": "300.00",
                                     "transactions": [{"bank_txn_id": "PF-1",
                                                       "direction": "credit",
                                                       "amount": e["amount_due"],
                                                       "booked_at": today.isoformat()}]}),
    ):  # fmt: skip
        raw = json.dumps(doc).encode()
        headers = {**bank.headers("POST", path, raw), "content-type": "application/json"}
        answer = api.post(path, content=raw, headers=headers)
        assert answer.status_code in (200, 201), answer.text
    return dict(e)


def _signed_in(browser: Any, family: Family, tamper: Any = None, clock: datetime | None = None,
               lang: str = "zh") -> Any:  # fmt: skip
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.set_default_timeout(30000)  # a shared machine's slow moments
    if clock is not None:
        page.clock.install(time=clock)
    if tamper is not None:

        def altered(route: Any) -> None:
            answer = route.fetch()
            route.fulfill(response=answer, body=json.dumps(tamper(answer.json())))

        # Every load of the parent's page fetches its proof (the complaint's redirect back to
        # it too): `_closed` waits for this handler before the context goes, or its response
        # is disposed under it and the error surfaces in whichever test runs next.
        page.route("**/parent/proof.json", altered)
    e = family.enrollment
    page.goto(f"{family.base}/parent/e/{e['id']}?lang={lang}")
    page.fill("#access_code", e["access_code"])
    page.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=proof][data-state]")
    return page


def _closed(page: Any) -> None:
    """Closes the page's context once its proof is checked and no route handler still runs
    (the handler reads a fetched response that closing the context would dispose)."""
    page.wait_for_selector("[data-testid=proof][data-state]")
    page.unroute_all(behavior="wait")
    page.context.close()


def _state(page: Any) -> tuple[str, str]:
    box = page.locator("[data-testid=proof]")
    return str(box.get_attribute("data-state")), str(page.inner_text("[data-testid=proof-status]"))


def test_a_parent_sees_the_verified_line_on_signing_in(browser: Any, family: Family) -> None:
    page = _signed_in(browser, family)
    state, line = _state(page)
    assert state == "verified", line
    assert line == (f"您的 ¥400.00 已计入 {SCHOOL} 今日对家长的全部负债 ¥400.00；"
                    "银行托管账户余额 ¥300.00（覆盖率 75.0%）")  # fmt: skip
    assert page.locator("[data-testid=proof-complain]").is_hidden()
    assert page.locator("[data-testid=proof-stale]").is_hidden()
    assert "日志第" in page.inner_text("[data-testid=proof-detail]")
    _closed(page)


def _root(proof: dict[str, Any]) -> dict[str, Any]:
    proof["root"]["hash"] = "0" * 64
    return proof


def _signature(proof: dict[str, Any]) -> dict[str, Any]:
    body, _, lines = proof["log"]["checkpoint"].partition("\n\n")
    first, *rest = lines.split("\n")
    name, blob = first.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    first = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    proof["log"]["checkpoint"] = body + "\n\n" + "\n".join([first, *rest])
    return proof


def _one_cosignature(proof: dict[str, Any]) -> dict[str, Any]:
    text = proof["log"]["checkpoint"]
    proof["log"]["checkpoint"] = "".join(text.splitlines(keepends=True)[:-1])
    return proof


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        (_root, "does not reach the root"),
        (_signature, "valid signature of the log"),
        (_one_cosignature, "fewer than the quorum"),
    ],
    ids=["tampered-root", "wrong-signature", "too-few-cosignatures"],
)
def test_a_proof_that_does_not_check_out_is_shown_as_failed(
    browser: Any, family: Family, tamper: Any, why: str
) -> None:
    page = _signed_in(browser, family, tamper)
    state, line = _state(page)
    assert state == "failed" and line.startswith("证明核验未通过") and why in line, line
    assert page.locator("[data-testid=proof-complain]").is_visible()
    _closed(page)


def test_one_click_files_a_complaint_with_the_failed_proof(browser: Any, family: Family) -> None:
    page = _signed_in(browser, family, _root)
    page.locator("[data-testid=proof-complain] button").click()
    page.wait_for_selector("[data-testid=complaint]")
    filed = page.inner_text("[data-testid=complaint]")
    assert "负债证明核验未通过" in filed and '"root"' in filed and "0" * 64 in filed
    _closed(page)


def test_a_root_older_than_36_hours_is_shown_as_stale(browser: Any, family: Family) -> None:
    later = datetime.now(SHANGHAI) + timedelta(days=3)
    page = _signed_in(browser, family, clock=later)
    state, _ = _state(page)
    assert state == "stale"
    assert "超过 36 小时" in page.inner_text("[data-testid=proof-stale]")
    _closed(page)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("width", [360, 1280])
def test_the_public_pages_fit_a_phone_and_a_desktop(
    browser: Any, family: Family, lang: str, width: int
) -> None:
    """The log's page and the institution's, in both languages, at 360 px and on a desktop:
    no sideways scroll of the page (a wide table scrolls in its own box)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{family.base}/proofs?lang={lang}")
    link = page.locator("[data-testid=entries] a").first
    href = str(link.get_attribute("href"))
    shots = os.environ.get("PROOF_SHOTS")
    if shots:
        page.screenshot(path=f"{shots}/log-{lang}-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{family.base}{href}?lang={lang}")
    assert page.inner_text("[data-testid=total]").strip() == "¥400.00"
    assert page.inner_text("[data-testid=attested]").strip() == "¥300.00"
    assert page.inner_text("[data-testid=coverage]").strip() == "75.0%"
    if shots:
        page.screenshot(path=f"{shots}/institution-{lang}-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
