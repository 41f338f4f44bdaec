"""Money and time on the wire, exactly as docs/api.md specifies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from service.kit.money import Instant, Money, PositiveMoney


class M(BaseModel):
    amount: PositiveMoney


class Z(BaseModel):
    amount: Money


class T(BaseModel):
    at: Instant


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1280", "1280.00"),
        ("1280.5", "1280.50"),
        ("1280.50", "1280.50"),
        ("0.01", "0.01"),
        ("9999999999999.99", "9999999999999.99"),
    ],
)
def test_good_money(raw: str, expected: str) -> None:
    m = M(amount=raw)
    assert m.amount == Decimal(expected)
    assert m.model_dump(mode="json") == {"amount": expected}


@pytest.mark.parametrize(
    "raw",
    [
        "-1",
        "0",
        "0.00",
        "1.234",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "1e3",
        "1E3",
        "10000000000000",
        "01",
        " 1",
        "1 ",
        "",
        "1.",
        ".5",
        "+1",
        "1,000",
        "１",
    ],
)
def test_bad_money_string(raw: str) -> None:
    with pytest.raises(ValidationError):
        M(amount=raw)


@pytest.mark.parametrize("raw", [1280, 12.5, 0.1, True, None, [], {}])
def test_money_must_be_a_string(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        M(amount=raw)
    assert info.value.errors()[0]["type"] in {"money_not_string"}


def test_zero_allowed_where_not_required_positive() -> None:
    assert Z(amount="0").amount == Decimal("0.00")


def test_naive_timestamp_rejected() -> None:
    with pytest.raises(ValidationError):
        T(at="2026-09-01T18:30:00")
    with pytest.raises(ValidationError):
        T(at=1788000000)


def test_offset_timestamp_accepted() -> None:
    t = T(at="2026-09-01T18:30:00+08:00").at
    assert t.utcoffset() is not None and t.hour == 18
    assert T(at="2026-09-01T10:30:00Z").at == t
