"""Splits use cumulative rounding: parts always sum to the whole, to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.amounts import cumulative_share, fen, slice_amount, split

totals = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)


@given(totals, st.integers(min_value=1, max_value=200))
def test_split_sums_to_whole_and_is_fair(total: Decimal, parts: int) -> None:
    pieces = split(total, parts)
    assert sum(pieces) == total
    assert max(pieces) - min(pieces) <= Decimal("0.01")
    assert all(p == p.quantize(Decimal("0.01")) for p in pieces)


@given(totals, st.integers(min_value=1, max_value=120), st.data())
def test_any_sequence_of_reports_sums_to_whole(
    total: Decimal, parts: int, data: st.DataObject
) -> None:
    consumed, paid = 0, Decimal("0")
    while consumed < parts:
        n = data.draw(st.integers(min_value=1, max_value=parts - consumed))
        paid += slice_amount(total, parts, consumed, n)
        consumed += n
    assert paid == total


def test_kth_lesson_formula() -> None:
    total, n = Decimal("100.00"), 3
    assert [slice_amount(total, n, k, 1) for k in range(3)] == [
        Decimal("33.33"),
        Decimal("33.34"),
        Decimal("33.33"),
    ]
    assert cumulative_share(total, n, 2) == Decimal("66.67")


@pytest.mark.parametrize("bad", [Decimal("1.001"), Decimal("NaN"), Decimal("Infinity")])
def test_fen_refuses_lossy_amounts(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        fen(bad)


def test_fen_refuses_float() -> None:
    with pytest.raises(TypeError):
        fen(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("10.00", "10"), ("12.50", "12.5"), ("0.00", "0"), ("100", "100"), ("1E+1", "10"),
     ("7.25", "7.25")],
)  # fmt: skip
def test_a_percentage_is_written_as_people_write_it(value: str, shown: str) -> None:
    from service.kit.money import format_percent

    assert format_percent(Decimal(value)) == shown
