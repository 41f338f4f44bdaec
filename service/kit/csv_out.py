"""The one CSV writer of every export: cells a spreadsheet would evaluate are made inert.

A cell that opens with `=`, `+`, `-` or `@` (or with a tab or carriage return, which some
programs skip before looking for those) is read by Excel, LibreOffice and Sheets as a formula:
an institution named `=HYPERLINK("http://evil","查看")` would become a live link in the
regulator's export. Per OWASP's "CSV Injection" advice, such a cell is prefixed with a single
quote, which the spreadsheet shows as text and never evaluates. A plain number (`-80.00`) is
left alone: it is data, not a formula. Leading spaces and line breaks are looked through,
because some programs trim them before deciding.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def inert(value: Any) -> Any:
    """`value` as a cell no spreadsheet evaluates: text that could open a formula gets a
    leading `'`; numbers and harmless text are unchanged."""
    if not isinstance(value, str) or not value or _NUMBER.fullmatch(value):
        return value
    if value.startswith(_TRIGGERS) or value.lstrip(" \t\r\n").startswith(_TRIGGERS):
        return "'" + value
    return value


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text, a row at a time (with a byte-order mark first, so spreadsheet programs
    read the Chinese as UTF-8); every cell passes through `inert`."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([inert(c) for c in header])
    for row in rows:
        writer.writerow([inert(c) for c in row])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()
