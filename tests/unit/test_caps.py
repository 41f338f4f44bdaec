"""Enrollment caps as the national packs set them: 60 lessons, 3 months, 5,000 yuan non-subject,
one month ahead, filed price; and a fitness pack's (Shanghai 2025)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from service.errors import DomainError
from service.fees.caps import Purchase, add_months, check_purchase
from service.kit.clock import SHANGHAI
from service.policy.rules import EarliestCollection, PrepayCaps

NOW = datetime(2026, 9, 1, 10, 0, tzinfo=SHANGHAI)


def purchase(**over) -> Purchase:
    base = dict(
        category="subject",
        lessons=10,
        amount=Decimal("200.00"),
        price_per_lesson=Decimal("20.00"),
        first_lesson=NOW + timedelta(days=1),
        last_lesson=NOW + timedelta(days=30),
        enrolled_at=NOW,
    )
    base.update(over)
    return Purchase(**base)


# The national packs' caps (service.policy.seeds): the same for both sectors but the amount.
SUBJECT = PrepayCaps(lessons=60, months=3)
NON_SUBJECT = PrepayCaps(lessons=60, months=3, amount=Decimal("5000"))
EARLIEST = EarliestCollection(months_before_start=1)


def code_of(p: Purchase) -> str | None:
    caps = NON_SUBJECT if p.category == "non_subject" else SUBJECT
    try:
        check_purchase(p, caps=caps, earliest=EARLIEST)
    except DomainError as e:
        return e.code
    return None


def test_sixty_lessons_pass_sixty_one_fail() -> None:
    assert code_of(purchase(lessons=60, amount=Decimal("1200.00"))) is None
    assert code_of(purchase(lessons=61, amount=Decimal("1220.00"))) == "prepay_over_cap"


def test_three_calendar_months() -> None:
    assert code_of(purchase(last_lesson=datetime(2026, 12, 1, 16, 0, tzinfo=SHANGHAI))) is None
    assert (
        code_of(purchase(last_lesson=datetime(2026, 12, 2, 16, 0, tzinfo=SHANGHAI)))
        == "prepay_over_cap"
    )


def test_non_subject_amount_cap() -> None:
    big = dict(category="non_subject", lessons=50, price_per_lesson=Decimal("200.00"))
    assert code_of(purchase(amount=Decimal("5000.00"), **big)) is None
    assert code_of(purchase(amount=Decimal("5000.01"), **big)) == "prepay_over_cap"
    assert code_of(purchase(amount=Decimal("5000.01"), **{**big, "category": "subject"})) is None


def test_first_lesson_no_more_than_a_month_away() -> None:
    assert code_of(purchase(first_lesson=datetime(2026, 10, 1, 16, tzinfo=SHANGHAI))) is None
    assert (
        code_of(purchase(first_lesson=datetime(2026, 10, 2, 16, tzinfo=SHANGHAI)))
        == "collected_too_early"
    )


def test_amount_at_most_lessons_times_price() -> None:
    assert code_of(purchase(amount=Decimal("200.00"))) is None
    assert code_of(purchase(amount=Decimal("150.00"))) is None  # a discount is allowed
    assert code_of(purchase(amount=Decimal("200.01"))) == "amount_above_filed_price"


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2026-11-30", 3, "2027-02-28"),
        ("2026-09-01", 3, "2026-12-01"),
    ],
)
def test_add_months_clamps(start: str, months: int, expected: str) -> None:
    from datetime import date

    assert add_months(date.fromisoformat(start), months) == date.fromisoformat(expected)


def test_a_fitness_pack_caps_sessions_months_and_amount() -> None:
    gym = PrepayCaps(lessons=60, months=24, amount=Decimal("20000"), per_consumer=Decimal("20000"))
    sessions = dict(category="fitness", lessons=60, price_per_lesson=Decimal("400.00"))
    year = NOW + timedelta(days=365)

    def code(**over: object) -> str | None:
        try:
            check_purchase(purchase(**{**sessions, **over}), caps=gym, earliest=EARLIEST)
        except DomainError as e:
            return str(e.extra.get("cap", e.code))
        return None

    assert code(amount=Decimal("20000.00"), last_lesson=year) is None  # a year: within 24 months
    assert code(amount=Decimal("20000.01")) == "amount"
    assert code(lessons=61, amount=Decimal("100.00")) == "lessons"
    assert code(amount=Decimal("100.00"), last_lesson=NOW + timedelta(days=800)) == "months"
    # The same year of sessions under an education pack: over its three months.
    assert code_of(purchase(**{**sessions, "category": "subject"}, amount=Decimal("100.00"),
                            last_lesson=year)) == "prepay_over_cap"  # fmt: skip
