"""Sharing a sum among claims pro rata, to the fen (docs/winddown.md "Rounds").

Cumulative rounding: the first k parts together are `amount × (w_1 + … + w_k) / W` rounded
half up to the fen, and each part is the difference of two such sums. So the parts add up to
`amount` exactly; each is within one fen of its exact share `amount × w_k / W` (each of the two
sums is within half a fen of its exact value); and, where `amount ≤ W`, no part exceeds its
weight (the exact sum grows by at most `w_k` from one claim to the next, and rounding half up
commutes with adding a whole number of fen). Where `amount = W` every part is its weight: in
full where the money covers the claims.

Arithmetic is on integers of fen: no Decimal context, no float, the same answer everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

FEN = Decimal("0.01")


def to_fen(amount: Decimal) -> int:
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of fen")
    return int(fen)


def of_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


def pro_rata(amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """`amount` shared in proportion to `weights` (each at least zero, and `amount` at most
    their sum), by cumulative rounding."""
    a = to_fen(amount)
    ws = [to_fen(w) for w in weights]
    if a < 0 or any(w < 0 for w in ws):
        raise ValueError("amounts and weights are never negative")
    total = sum(ws)
    if a > total:
        raise ValueError(f"{amount} is more than the claims it shares ({of_fen(total)})")
    if a == 0:
        return [of_fen(0)] * len(ws)
    parts: list[Decimal] = []
    running, before = 0, 0
    for w in ws:
        running += w
        # round half up of a × running / total, in integers
        upto = (2 * a * running + total) // (2 * total)
        parts.append(of_fen(upto - before))
        before = upto
    return parts
