"""Languages of the pages: Simplified Chinese by default, English on request. The messages are
Babel catalogues (`locale/<lang>/LC_MESSAGES/messages.po`, extracted from the templates and
`labels.py` with `make messages`), read once at start; each request picks its language from
`?lang=` or the `tg_lang` cookie. Money is written `¥12,345.67` and instants in Beijing time,
whatever the language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from io import BytesIO

from babel.dates import format_date, format_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from service.kit.clock import SHANGHAI

LANGUAGES = {"zh": "zh_CN", "en": "en"}
DEFAULT = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid → translation for `lang` (English is the source language: an empty catalogue)."""
    if lang == "en":
        return {}
    raw = resources.files("service.pages").joinpath(
        f"locale/{LANGUAGES[lang]}/LC_MESSAGES/messages.po"
    )
    cat = read_po(BytesIO(raw.read_bytes()), locale=LANGUAGES[lang])
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


def gettext(lang: str) -> Callable[[str], str]:
    messages = catalogue(lang)

    def _(text: str) -> str:
        return messages.get(text, text)

    return _


def pick(query: str | None, cookie: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT


def money(value: Decimal | str | None) -> str:
    """¥12,345.67 (and -¥12.00); an em dash for none. A string is an amount as the wire
    writes it (an approval's payload: `"35.00"`)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = Decimal(value)
    shown = format_decimal(abs(value), "#,##0.00", locale="en")
    return f"-¥{shown}" if value < 0 else f"¥{shown}"


def instant(value: datetime | None, lang: str) -> str:
    """Beijing time, to the minute."""
    if value is None:
        return "—"
    return format_datetime(value, "yyyy-MM-dd HH:mm", tzinfo=SHANGHAI, locale=LANGUAGES[lang])


def day(value: date | datetime | None, lang: str) -> str:
    """The day, on Beijing time when given an instant."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(SHANGHAI).date()
    return format_date(value, "yyyy-MM-dd", locale=LANGUAGES[lang])


def ratio(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
