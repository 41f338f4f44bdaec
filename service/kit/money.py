"""Money and time on the wire (API.md "Conventions").

Money arrives as a JSON string of yuan with at most two decimals and at most 13 integer
digits — never a JSON number, never an exponent, NaN or Infinity — and leaves with exactly two
decimals. Instants must carry an offset.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

# Instants and days the service accepts: wide enough for any real history (the rules date from
# 2018), narrow enough that no arithmetic on them leaves the calendar (year 1 at +14:00 is
# before year 1 in UTC; year 9999 at -14:00 after 9999).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_MONEY = re.compile(r"(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


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
    return Decimal(value).quantize(Decimal("0.01"))


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise PydanticCustomError("money_not_positive", "amount must be greater than zero")
    return value


def format_money(value: Decimal) -> str:
    return f"{value:.2f}"


def parse_instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "invalid_timestamp",
            "timestamps are RFC 3339 with an offset, e.g. 2026-09-01T18:30:00+08:00",
        )
    return value


def _bounded_instant(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError(
            "instant_out_of_range", "instants must lie in the years 2000 to 2099"
        )
    return value


def _bounded_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise PydanticCustomError("date_out_of_range", "dates must lie in the years 2000 to 2099")
    return value


_serialize = PlainSerializer(format_money, return_type=str, when_used="json")

Money = Annotated[Decimal, BeforeValidator(parse_money), _serialize]
PositiveMoney = Annotated[
    Decimal, BeforeValidator(parse_money), AfterValidator(_positive), _serialize
]
MoneyOut = Annotated[Decimal, _serialize]
Instant = Annotated[AwareDatetime, BeforeValidator(parse_instant), AfterValidator(_bounded_instant)]
Day = Annotated[date, AfterValidator(_bounded_day)]
