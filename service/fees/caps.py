"""What one collection of prepaid fees may be (docs/domain.md "Prepaid fees"): the caps of the
region's rule pack for the institution's sector (docs/rules.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from service.errors import DomainError
from service.kit.clock import local
from service.kit.money import format_money
from service.policy.rules import EarliestCollection, PrepayCaps

# The span one collection of training may cover (the education packs' `prepay_caps.months`,
# national and every seeded locality): how far back the risk engine looks for enrollments
# still being taught. A fitness pack's longer memberships (Shanghai: 24 months) paid before
# that are not seen by the consumption-stall indicator (docs/rules.md).
EDUCATION_MONTHS = 3


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


def check_purchase(p: Purchase, *, caps: PrepayCaps, earliest: EarliestCollection) -> None:
    """Raise the API's error code for the first cap the purchase breaks: the caps and the
    earliest collection of the pack in force for the institution's region and sector."""
    if p.lessons > caps.lessons:
        raise DomainError(
            "prepay_over_cap",
            f"{p.lessons} lessons in one collection; at most {caps.lessons}",
            extra={"cap": "lessons", "limit": caps.lessons},
        )
    enrolled = local(p.enrolled_at).date()
    last_allowed = add_months(enrolled, caps.months)
    if local(p.last_lesson).date() > last_allowed:
        raise DomainError(
            "prepay_over_cap",
            f"the last lesson bought ({local(p.last_lesson).date()}) is more than "
            f"{caps.months} months after the enrollment ({enrolled}); latest "
            f"{last_allowed}",
            extra={"cap": "months", "limit": caps.months},
        )
    # `per_consumer` is what one consumer holds at the institution over all their orders:
    # judged where their other enrollments are read (service.flows.enrollments._Held).
    limit = caps.amount
    if limit is not None and p.amount > limit:
        raise DomainError(
            "prepay_over_cap",
            f"{format_money(p.amount)} yuan in one collection; at most {format_money(limit)}",
            extra={"cap": "amount", "limit": format_money(limit)},
        )
    months = earliest.months_before_start
    latest_start = add_months(enrolled, months)
    if local(p.first_lesson).date() > latest_start:
        raise DomainError(
            "collected_too_early",
            f"the first lesson bought ({local(p.first_lesson).date()}) is more than "
            f"{months} month(s) after the collection ({enrolled})",
        )
    ceiling = p.price_per_lesson * p.lessons
    if p.amount > ceiling:
        raise DomainError(
            "amount_above_filed_price",
            f"{format_money(p.amount)} yuan for {p.lessons} lessons is above "
            f"{p.lessons} × {format_money(p.price_per_lesson)} = "
            f"{format_money(ceiling)}",
        )
