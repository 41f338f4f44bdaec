"""What a page tells after a form: the note shown where the redirect lands (the server's own
note, carried in a sealed cookie: never in the address)."""

from __future__ import annotations

import html
import re
from typing import Any

NOTE = re.compile(r'<p class="(flash|problem)" role="(?:status|alert)">(.*?)</p>', re.S)


def told(c: Any, r: Any) -> tuple[str, str] | None:
    """(kind, text) the page `r` redirects to shows, in English; None if it shows none."""
    assert r.status_code == 303, r.text[:300]
    page = c.get(r.headers["location"].split("#")[0], params={"lang": "en"})
    found = NOTE.search(page.text)
    if not found:
        return None
    return ("done" if found.group(1) == "flash" else "problem"), html.unescape(found.group(2))


def notes(text: str) -> list[str]:
    return [html.unescape(m.group(2)) for m in NOTE.finditer(text)]
