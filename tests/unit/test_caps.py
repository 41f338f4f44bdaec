"""Enrollment caps: 60 lessons, 3 months, 5,000 yuan non-subject, one month ahead, filed price."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from service.errors import DomainError
from service.fees.caps import Purchase, add_months, check_purchase
from service.kit.clock import SHANGHAI

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


def code_of(p: Purchase) -> str | None:
    try:
        check_purchase(p)
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
