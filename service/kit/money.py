"""Money and time on the wire (docs/api.md "Conventions").

Money arrives as a JSON string of yuan with at most two decimals and at most 13 integer
digits — never a JSON number, never an exponent, NaN or Infinity — and leaves with exactly two
decimals. Instants must carry an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, TzInfo

# Instants and days the service accepts: wide enough for any real history (the rules date from
# 2018), narrow enough that no arithmetic on them leaves the calendar (year 1 at +14:00 is
# before year 1 in UTC; year 9999 at -14:00 after 9999).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_MONEY = re.compile(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?")
# What the document says of a day and an instant, and what the service checks, written once:
# a year 2000 to 2099 as written, a month and day of the calendar's shape (whether that day
# exists is the `date` format's word, checked by the parser), and for an instant a time and an
# offset. The year is bounded as written, so every string of the pattern is taken: bounding
# it in UTC refused 2000-01-01T00:00:00+08:00, which the document allowed.
DAY_PATTERN = r"20[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
INSTANT_PATTERN = (
    DAY_PATTERN + r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_RFC3339 = re.compile(INSTANT_PATTERN)
_DAY = re.compile(DAY_PATTERN)
# A positive amount: the money pattern without zero (0, 0.0, 0.00).
POSITIVE_MONEY_PATTERN = r"^(?:0\.(?:0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,12}(?:\.[0-9]{1,2})?)$"


def parse_money(value: Any) -> Decimal:
    if isinstance(value, Decimal):  # already parsed (internal construction, not the wire)
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "money_not_string", 'money must be a JSON string such as "1280.50"'
        )
    if not _MONEY.fullmatch(value):
        raise PydanticCustomError(
            "invalid_money",
            "money must be a non-negative decimal string with at most 13 integer digits and "
            "two decimals",
        )
    return money_of(value)


_CENT = Decimal("0.01")


def money_of(text: str) -> Decimal:
    """Money from a text the money pattern matches (two decimals, as it is kept)."""
    return Decimal(text).quantize(_CENT)


def instant_of(text: str) -> datetime | None:
    """What `Instant` makes of a text `INSTANT_PATTERN` matches, the very value (pydantic's
    own offset type, so the same text gives the same instant and the same `isoformat()`
    either way), or None where it refuses it (a day the calendar has not: the pattern takes
    2026-02-30). For a body's fast path, which validates the full way on None."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    offset = _OFFSETS.get(at.tzinfo)
    if offset is None:  # the pattern's offsets are at most 2 × 24 × 60, each made once
        delta = at.utcoffset()
        if delta is None:
            return None
        offset = _OFFSETS[at.tzinfo] = TzInfo(int(delta.total_seconds()))
    return at.replace(tzinfo=offset)


_OFFSETS: dict[tzinfo | None, TzInfo] = {}


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("money_not_positive", "amount must be greater than zero")
    return value


def format_money(value: Decimal) -> str:
    return f"{value:.2f}"


def format_percent(value: Decimal) -> str:
    """As people write a percentage: 10, 12.5 (never 1E+1)."""
    shown = f"{value:f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def parse_instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,6}-.*", value) and not value[:2] == "20":
        raise PydanticCustomError(
            "instant_out_of_range", "instants must lie in the years 2000 to 2099"
        )
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "invalid_timestamp",
            "timestamps are RFC 3339 with an offset, e.g. 2026-09-01T18:30:00+08:00",
        )
    return value


def _bounded_instant(value: datetime) -> datetime:
    if not EARLIEST.year <= value.year < LATEST.year:  # as written (its own offset)
        raise PydanticCustomError(
            "instant_out_of_range", "instants must lie in the years 2000 to 2099"
        )
    return value


def parse_day(value: Any) -> Any:
    """A day is a JSON string `YYYY-MM-DD` (never a number of seconds, which the parser would
    take for 1970's days)."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        if not value.startswith("20"):
            raise PydanticCustomError(
                "date_out_of_range", "dates must lie in the years 2000 to 2099"
            )
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise PydanticCustomError("invalid_date", "days are written YYYY-MM-DD, e.g. 2026-09-01")
    return value


def _bounded_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise PydanticCustomError("date_out_of_range", "dates must lie in the years 2000 to 2099")
    return value


_serialize = PlainSerializer(format_money, return_type=str, when_used="json")
# What the OpenAPI document says of money: a string, never a number.
MONEY_IN_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$",
        "examples": ["1280.50"],
        "description": "yuan as a string: at most 13 integer digits and 2 decimals",
    },
    mode="validation",
)
MONEY_OUT_SCHEMA = WithJsonSchema(
    {
        "type": "string",
        "pattern": r"^-?[0-9]+\.[0-9]{2}$",
        "examples": ["1280.50"],
        "description": "yuan as a string with exactly 2 decimals",
    },
    mode="serialization",
)

Money = Annotated[
    Decimal, BeforeValidator(parse_money), _serialize, MONEY_IN_SCHEMA, MONEY_OUT_SCHEMA
]
PositiveMoney = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    AfterValidator(_positive),
    _serialize,
    WithJsonSchema(
        {
            **(MONEY_IN_SCHEMA.json_schema or {}),
            "pattern": POSITIVE_MONEY_PATTERN,
            "description": "yuan as a string, more than zero: at most 13 integer digits and 2 "
            "decimals",
        },
        mode="validation",
    ),
    MONEY_OUT_SCHEMA,
]
# A percentage from 0 to 100 written as money is (a price guide's float cap).
PERCENT_PATTERN = r"^(?:100(?:\.0{1,2})?|(?:0|[1-9][0-9]?)(?:\.[0-9]{1,2})?)$"
Percent = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    _serialize,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": PERCENT_PATTERN,
            "examples": ["10"],
            "description": "a percentage from 0 to 100, as a string with at most 2 decimals",
        },
        mode="validation",
    ),
    MONEY_OUT_SCHEMA,
]
# Money in a response: always a string of exactly two decimals.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(format_money, return_type=str),
    WithJsonSchema(MONEY_OUT_SCHEMA.json_schema or {}),
]
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(parse_instant),
    AfterValidator(_bounded_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": f"^{INSTANT_PATTERN}$",
            "description": "RFC 3339 with an offset, in the years 2000 to 2099",
        },
        mode="validation",
    ),
]
# An instant in a response, as `datetime.isoformat()` writes it (with its offset).
InstantOut = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
Day = Annotated[
    date,
    BeforeValidator(parse_day),
    AfterValidator(_bounded_day),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": f"^{DAY_PATTERN}$",
            "description": "YYYY-MM-DD, in the years 2000 to 2099",
        },
        mode="validation",
    ),
]
DayOut = Annotated[
    date,
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date"}),
]
