"""`make screenshots`: every workbench page, in Chinese and in English, on a desktop and at
360 px, photographed in headless Chromium against the showcase region (tools/showcase.py)
served by the real service, into docs/screenshots/."""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from service.kit.clock import utcnow
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.tables import load_reference
from tools import showcase

SECRET = "screenshots-secret-0123456789"  # noqa: S105 - a throwaway database
WIDTHS = {"desktop": 1280, "phone": 360}


def pages(shown: showcase.Showcase) -> dict[str, str]:
    critical = shown.institutions["critical"]
    return {
        "sign-in": "/workbench/sign-in",
        "overview": "/workbench",
        "institutions": "/workbench/institutions?sort=score",
        "institution": f"/workbench/institutions/{critical}",
        "cases": "/workbench/alerts",
        "case": f"/workbench/alerts/{shown.case}",
        "disputes": "/workbench/disputes",
        "reconciliation": "/workbench/reconciliation",
        "complaints": "/workbench/complaints",
        "rules": "/workbench/rules",
        "packs": f"/workbench/packs?institution_id={shown.institutions['disputed']}",
        "prices": "/workbench/prices",
        "approvals": "/workbench/approvals",
        "audit": "/workbench/audit",
    }


def prepare(url: str, *, now: Any = None) -> showcase.Showcase:
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    at = now or utcnow()
    run_in_transaction(sessions, lambda s: load_reference(s, now=at))
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url=url, secret_key=SECRET
    )
    return showcase.build(sessions, settings, now=at)


@contextmanager
def served(url: str) -> Iterator[str]:
    """The service as a process of its own on a free port of 127.0.0.1, scheduler off."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test", "SECRET_KEY": SECRET,
           "LOG_SIGNING_KEY": "ab" * 32, "SCHEDULER_ENABLED": "false",
           "LOG_LEVEL": "WARNING"}  # fmt: skip
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def _wait_ready(base: str) -> None:
    # A loaded machine (2 cores, a dozen test runs) takes 15 s and more to import and start it.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the service did not become ready")


def chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(found):
        raise SystemExit("Debian's chromium is needed: make browser-deps (as root)")
    return found


LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def sign_in(page: Any, base: str, token: str) -> None:
    """With the office's token (the second form of the page, folded away)."""
    page.goto(base + "/workbench/sign-in")
    token_form(page, token)
    page.wait_for_url(base + "/workbench")


def token_form(page: Any, token: str) -> None:
    if not page.locator("#token").is_visible():
        page.click("details.office-token summary")
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")


def photograph(base: str, shown: showcase.Showcase, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=LAUNCH_ARGS)
        for (device, width), lang in itertools.product(WIDTHS.items(), ("zh", "en")):
            # The browser's own language too: it draws the date pickers.
            context = browser.new_context(
                viewport={"width": width, "height": 800},
                locale="zh-CN" if lang == "zh" else "en-GB",
                timezone_id="Asia/Shanghai",
            )
            page = context.new_page()
            page.goto(f"{base}/workbench/sign-in?lang={lang}")
            for name, path in pages(shown).items():
                if name != "sign-in" and not any(
                    c["name"] == "tg_session" for c in context.cookies()
                ):
                    sign_in(page, base, shown.tokens["220100"])
                page.goto(base + path)
                target = out / f"{name}-{lang}-{device}.png"
                page.screenshot(path=str(target), full_page=True)
                written.append(target)
            context.close()
            written += _parent(browser, base, shown, out, device, width, lang)
        browser.close()
    return written


def _parent(
    browser: Any, base: str, shown: showcase.Showcase, out: Path, device: str, width: int, lang: str
) -> list[Path]:
    """The parent's pages, as a phone (touch) or a desktop shows them."""
    phone = device == "phone"
    context = browser.new_context(viewport={"width": width, "height": 740 if phone else 800},
                                  has_touch=phone, is_mobile=phone,
                                  locale="zh-CN" if lang == "zh" else "en-GB")  # fmt: skip
    page = context.new_page()
    enrollment, code = shown.parent
    page.goto(f"{base}/parent/e/{enrollment}?lang={lang}")
    shots = [(out / f"parent-sign-in-{lang}-{device}.png", None)]
    page.screenshot(path=str(shots[0][0]), full_page=True)
    page.fill("#access_code", code)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=figures]")
    for name, path in (("parent", "/parent"), ("parent-refund", "/parent/refund?lessons=2")):
        page.goto(base + path)
        target = out / f"{name}-{lang}-{device}.png"
        page.screenshot(path=str(target), full_page=True)
        shots.append((target, None))
    context.close()
    return [t for t, _ in shots]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tg-shots-") as tmp:
        url = f"sqlite:///{tmp}/showcase.db"
        shown = prepare(url)
        with served(url) as base:
            for path in photograph(base, shown, Path(args.out)):
                print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
