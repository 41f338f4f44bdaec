"""axe-core (vendored: vendor/axe-core, 4.14.1 from the npm registry) run inside a page.

Injected through the DevTools protocol (Playwright's evaluate), which the pages'
Content-Security-Policy does not govern, so the pages are checked under their real policy."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

VERSION = "4.14.1"
SOURCE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


@cache
def _source() -> str:
    return SOURCE.read_text(encoding="utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """Every violation axe finds on the page as it stands (all of axe's rules for WCAG 2.1 A
    and AA, and its best practices), each with the nodes it found it on."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(_source() + "\n;undefined")
        assert page.evaluate("window.axe.version") == VERSION
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                             'best-practice']},
            resultTypes: ['violations'],
        })).violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"""
    )
    return found


def assert_clean(page: Any, where: str) -> None:
    found = violations(page)
    assert found == [], f"axe on {where}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found
    )
