"""What one collection of prepaid fees may be (docs/domain.md "Prepaid fees")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from service.errors import DomainError
from service.kit.clock import local
from service.kit.money import format_money

MAX_LESSONS = 60
MAX_MONTHS = 3
NON_SUBJECT_MAX = Decimal("5000.00")
EARLIEST_MONTHS = 1
SOURCE = "教监管函〔2021〕2号; 国办发〔2018〕80号; MOE non-subject opinion (2022-12)"


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True, kw_only=True)
class Purchase:
    category: str
    lessons: int
    amount: Decimal
    price_per_lesson: Decimal
    first_lesson: datetime
    last_lesson: datetime
    enrolled_at: datetime


def check_purchase(p: Purchase) -> None:
    """Raise the API's error code for the first cap the purchase breaks."""
    if p.lessons > MAX_LESSONS:
        raise DomainError(
            "prepay_over_cap",
            f"{p.lessons} lessons in one collection; at most {MAX_LESSONS}",
            extra={"cap": "lessons", "limit": MAX_LESSONS},
        )
    enrolled = local(p.enrolled_at).date()
    last_allowed = add_months(enrolled, MAX_MONTHS)
    if local(p.last_lesson).date() > last_allowed:
        raise DomainError(
            "prepay_over_cap",
            f"the last lesson bought ({local(p.last_lesson).date()}) is more than "
            f"{MAX_MONTHS} months after the enrollment ({enrolled}); latest "
            f"{last_allowed}",
            extra={"cap": "months", "limit": MAX_MONTHS},
        )
    if p.category == "non_subject" and p.amount > NON_SUBJECT_MAX:
        raise DomainError(
            "prepay_over_cap",
            f"{format_money(p.amount)} yuan in one collection for non-subject "
            f"training; at most {format_money(NON_SUBJECT_MAX)}",
            extra={"cap": "amount", "limit": format_money(NON_SUBJECT_MAX)},
        )
    earliest = add_months(enrolled, EARLIEST_MONTHS)
    if local(p.first_lesson).date() > earliest:
        raise DomainError(
            "collected_too_early",
            f"the first lesson bought ({local(p.first_lesson).date()}) is more than "
            f"one month after the collection ({enrolled})",
        )
    ceiling = p.price_per_lesson * p.lessons
    if p.amount > ceiling:
        raise DomainError(
            "amount_above_filed_price",
            f"{format_money(p.amount)} yuan for {p.lessons} lessons is above "
            f"{p.lessons} × {format_money(p.price_per_lesson)} = "
            f"{format_money(ceiling)}",
        )
