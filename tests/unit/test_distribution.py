"""The wind-down's distribution (service/flows/distribution.py), as properties: for random
claims, recoveries and rounds, every round's parts sum to the round exactly, each part is
within a fen of its exact pro-rata share, no claim is ever given more than it is owed, and a
round that covers what is owed pays every claim in full."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.flows.distribution import pro_rata

FEN = Decimal("0.01")
cents = st.integers(min_value=0, max_value=10**9)  # up to ten million yuan a claim
claims = st.lists(cents, min_size=1, max_size=60)


def y(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


@settings(max_examples=400, deadline=None)
@given(claims=claims, data=st.data())
def test_one_round(claims: list[int], data: st.DataObject) -> None:
    weights = [y(c) for c in claims]
    owed = sum(claims)
    amount = y(data.draw(st.integers(min_value=0, max_value=owed)))
    parts = pro_rata(amount, weights)
    assert sum(parts, Decimal(0)) == amount
    for part, w in zip(parts, weights, strict=True):
        assert Decimal(0) <= part <= w
        if owed:
            assert abs(part - amount * w / y(owed)) <= FEN


@settings(max_examples=200, deadline=None)
@given(
    claims=claims,
    money=st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=6),
)
def test_rounds_with_recoveries_never_overpay(claims: list[int], money: list[int]) -> None:
    """Each round shares what came in since (the escrow, then each recovery) among what the
    claims have not been given yet: the total given is what was distributed, and no claim
    ever gets more than its amount; once the money covers everything, every claim is whole."""
    weights = [y(c) for c in claims]
    given_so_far = [Decimal(0)] * len(claims)
    distributed, pot = Decimal(0), Decimal(0)
    for came_in in money:
        pot += y(came_in)
        left = [w - g for w, g in zip(weights, given_so_far, strict=True)]
        amount = min(pot, sum(left, Decimal(0)))
        parts = pro_rata(amount, left)
        for i, p in enumerate(parts):
            assert abs(p - (amount * left[i] / sum(left) if sum(left) else 0)) <= FEN
            given_so_far[i] += p
        pot -= amount
        distributed += amount
        assert sum(given_so_far, Decimal(0)) == distributed
        assert all(g <= w for g, w in zip(given_so_far, weights, strict=True))
    if distributed == sum(weights, Decimal(0)):
        assert given_so_far == weights


def test_in_full_where_money_covers() -> None:
    claims = [Decimal("160.00"), Decimal("200.00"), Decimal("0.00"), Decimal("33.33")]
    assert pro_rata(sum(claims, Decimal(0)), claims) == claims


def test_refuses_more_than_owed_and_fractions_of_a_fen() -> None:
    with pytest.raises(ValueError, match="more than"):
        pro_rata(Decimal("10.01"), [Decimal("10.00")])
    with pytest.raises(ValueError, match="fen"):
        pro_rata(Decimal("1.001"), [Decimal("10.00")])


def test_a_known_split() -> None:
    """700 among 160, 200, 200, 200, 200 (960 owed): cumulative rounding, half up."""
    parts = pro_rata(Decimal("700.00"), [Decimal(x) for x in ("160", "200", "200", "200", "200")])
    assert parts == [Decimal(p) for p in ("116.67", "145.83", "145.83", "145.84", "145.83")]
