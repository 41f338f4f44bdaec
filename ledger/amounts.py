"""Exact amounts and splits. Every split sums to its whole, to the fen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def fen(amount: Decimal) -> Decimal:
    """Return `amount` with exactly two decimals; refuse anything that would lose a fraction."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    quantized = amount.quantize(FEN)
    if quantized != amount:
        raise ValueError(f"amount has more than two decimals: {amount}")
    return quantized


def cumulative_share(total: Decimal, parts: int, k: int) -> Decimal:
    """round(total * k / parts) to the fen, half up: the amount of the first `k` of `parts`.

    Cumulative rounding makes the k-th part `share(k) - share(k-1)`, so any sequence of
    partial amounts adds up exactly to `total`.
    """
    if parts <= 0 or not 0 <= k <= parts:
        raise ValueError(f"bad share {k}/{parts}")
    if k == parts:
        return fen(total)
    return (total * k / parts).quantize(FEN, rounding=ROUND_HALF_UP)


def slice_amount(total: Decimal, parts: int, start: int, count: int) -> Decimal:
    """The amount of parts `start+1 .. start+count` (1-based) of `total` split into `parts`."""
    return cumulative_share(total, parts, start + count) - cumulative_share(total, parts, start)


def split(total: Decimal, parts: int) -> list[Decimal]:
    """Split `total` into `parts` amounts that differ by at most a fen and sum to `total`."""
    return [slice_amount(total, parts, k, 1) for k in range(parts)]
