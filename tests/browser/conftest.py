"""The browser tests' parts: Debian's chromium driven by Playwright (headless, by
`executable_path`), and the service as a process of its own on 127.0.0.1 serving the showcase
region (tools/showcase.py) from a fresh SQLite database."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tools import screenshots, showcase

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make browser-deps)"
)


@dataclass
class Workbench:
    base: str
    shown: showcase.Showcase
    url: str  # its database


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    url = f"sqlite:///{tmp_path_factory.mktemp('workbench')}/showcase.db"
    shown = screenshots.prepare(url)
    with screenshots.served(url) as base:
        yield Workbench(base, shown, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*screenshots.LAUNCH_ARGS, "--disable-quic"],
        )
        yield b
        b.close()
