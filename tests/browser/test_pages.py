"""The parent's page in a real headless Chromium (Debian's package, driven by Playwright),
against the service running as a process on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed"
)


@dataclass
class Site:
    base: str
    token: str
    institution: str
    enrollment: str
    access_code: str
    shots: Path


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str) -> tuple[str, str, str, str]:
    """A school whose unanswered refund is overdue, swept so it shows as medium with an alert."""
    from service.config import Settings
    from service.flows import consumptions, deposits, enrollments, onboarding, refunds
    from service.kit.clock import utcnow
    from service.kit.db import make_engine, make_sessionmaker, session_scope
    from service.registry import institutions
    from service.registry.credentials import create_bank, create_regulator
    from service.registry.identifiers import make_credit_code
    from service.registry.models import Bank, Regulator
    from service.risk.sweep import sweep
    from tests import factories

    settings = Settings(
        environment="test", database_url=url, secret_key="browser-secret-0123456789"
    )
    sessions = make_sessionmaker(make_engine(url))
    now = utcnow() - timedelta(days=10)
    with session_scope(sessions) as s:
        bank = create_bank(
            s, name="b", code="B", instruction_url=None, secret_key=settings.secret_key, now=now
        )
        reg = create_regulator(s, name="辽源市教育局", region_code="220000", now=now)
        inst, _ = onboarding.register_institution(
            s,
            regulator=s.get(Regulator, reg.id),
            now=now,
            data=institutions.NewInstitution(
                name="龙山区启明学科培训学校",
                credit_code=make_credit_code("52", "220102", "BR000001"),
                region_code="220102",
                category="subject",
                supervision_mode="reserve",
                bank_id=bank.id,
                escrow_account_no="ESC-1",
                operating_account_no="OPR-1",
                reserve_account_no="RSV-1",
            ),
        )
        course = factories.file_maths_course(
            s, inst, now=now, sessions=20, start=(now + timedelta(days=1)).date().isoformat()
        )
        codes = []
        for k in range(2):
            made = enrollments.create(
                s,
                institution=inst,
                course_id=course.id,
                student_ref=f"s{k}",
                lessons=4,
                amount=Decimal("80.00"),
                now=now,
                settings=settings,
            )
            e, code = made.enrollment, made.access_code
            deposits.receive(
                s,
                bank=s.get(Bank, bank.id),
                now=now,
                data=deposits.DepositIn(
                    f"T{k}", "ESC-1", e.payment_reference, Decimal("80.00"), now
                ),
            )
            codes.append((e.id, code))
        # The risk reserve covers what the parents are owed, so only the overdue refund shows.
        deposits.receive(
            s,
            bank=s.get(Bank, bank.id),
            now=now,
            data=deposits.DepositIn("R0", "RSV-1", "reserve", Decimal("200.00"), now),
        )
        refunds.request(s, enrollment_id=codes[0][0], lessons=None, reason="moving", now=now)
        consumptions.report(
            s,
            institution=inst,
            enrollment_id=codes[1][0],
            lessons=1,
            occurred_at=utcnow() - timedelta(hours=1),
            session_ref=None,
            now=utcnow(),
        )
        sweep(s, as_of=utcnow(), now=utcnow())
        return reg.credential, inst.id, codes[1][0], codes[1][1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{tmp}/site.db"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "browser-secret-0123456789",
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"], env=env, check=True, capture_output=True
    )
    token, inst, enrollment, code = _seed(url)
    port = _port()
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield Site(base, token, inst, enrollment, code, tmp)
    finally:
        server.terminate()
        server.wait(10)


def test_parent_page(site: Site, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_context(bypass_csp=True).new_page()  # lets wait_for_function evaluate
    page.goto(site.base + "/parent")
    page.fill("#enrollment", site.enrollment)
    page.fill("#code", site.access_code)
    page.click("#signin")
    page.wait_for_selector("#summary tbody tr")
    text = page.inner_text("#summary")
    assert "80.00" in text and "20.00" in text and "60.00" in text  # paid, used, refundable
    page.wait_for_selector("#lessons .dispute")
    page.click("#lessons .dispute")
    page.wait_for_function("document.querySelector('#lessons').textContent.includes('disputed')")
    page.click("#refund")
    page.wait_for_function(
        "document.querySelector('#refund-status').textContent.includes('requested')"
    )
    assert "60.00" in page.inner_text("#refund-status")
    page.screenshot(path=str(site.shots / "parent.png"), full_page=True)
