"""Working days (工作日): the State Council's yearly arrangement, failing closed.

Deadlines the texts set in working days (a confirmation window, a refund's answer) count the
days `chinesecalendar` says are working days: weekdays that are not holidays, plus the weekend
make-up days (调休). The State Council publishes a year's arrangement late in the year before,
so a count may reach a year the package does not have: that year is then counted on the
statutory holidays alone (`service.fees.calendar.statutory_holidays`: weekends and the 13 days
off, no joined days, no make-up days) and the answer says `provisional`, so no page or client
shows a guessed deadline as a settled one.

Every answer is a typed value carrying that flag; nothing here returns a bare date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import chinese_calendar

from service.errors import DomainError
from service.fees.calendar import school_day
from service.kit.clock import SHANGHAI
from service.policy.rules import Span
from service.registry.regions import is_valid_region

# The days the calendar answers for: the computed fallback's lunar calendar (`lunardate`)
# stops in 2099, and the API's days and instants lie in 2000 to 2099 (service.kit.money).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
# A bound on any one count, so no request walks the calendar for long: twenty years of
# working days, far beyond any deadline a text sets.
MAX_COUNT = 5000


@dataclass(frozen=True, kw_only=True)
class Day:
    """Whether a day is a working day, and whether that rests on a published arrangement."""

    day: date
    working: bool
    provisional: bool


@dataclass(frozen=True, kw_only=True)
class Deadline:
    """The day (or instant) a count of working days ends on; `provisional` when any day
    counted lies in a year whose arrangement is not published."""

    date: date
    provisional: bool


@dataclass(frozen=True, kw_only=True)
class InstantDeadline:
    at: datetime
    provisional: bool


@dataclass(frozen=True, kw_only=True)
class Count:
    """How many working days; `provisional` as for `Deadline`."""

    days: int
    provisional: bool


@lru_cache(maxsize=256)
def arrangement_published(year: int) -> bool:
    """Whether `chinesecalendar` has the State Council's arrangement for `year`."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def is_working_day(day: date) -> Day:
    _within(day)
    return Day(day=day, working=school_day(day)[0], provisional=not arrangement_published(day.year))


def add_working_days(start: date, n: int) -> Deadline:
    """The `n`-th working day after `start` (`start` itself for 0; `start` need not be a
    working day). Provisional when any day from the day after `start` to the answer lies in
    a year without a published arrangement."""
    _count_bounds(n)
    _within(start)
    day, left = start, n
    while left:
        day += timedelta(days=1)
        _within(day)
        left -= school_day(day)[0]
    return Deadline(date=day, provisional=_provisional(start, day))


def add_working_days_at(start: datetime, n: int) -> InstantDeadline:
    """The instant `n` working days after `start`, at the same Beijing time of day (the
    days are Beijing's: the rules about the clock are judged there)."""
    local = start.astimezone(SHANGHAI)
    end = add_working_days(local.date(), n)
    at = datetime.combine(end.date, local.timetz())
    return InstantDeadline(at=at, provisional=end.provisional)


def deadline_in(region_code: str, start: datetime, n: int) -> InstantDeadline:
    """`GET /working-days`: the instant `n` working days after `start` in a region. The
    State Council's arrangement is national, so every real division code answers alike; a code
    that names no division is refused rather than answered as if it did."""
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    return add_working_days_at(start, n)


def working_days_between(start: date, end: date) -> Count:
    """The working days after `start` up to and including `end` (0 when `end` is not after
    `start`): `working_days_between(d, add_working_days(d, n).date)` is `n`."""
    _within(start)
    _within(end)
    if end <= start:
        return Count(days=0, provisional=False)
    days = sum(school_day(start + timedelta(days=k))[0] for k in range(1, (end - start).days + 1))
    return Count(days=days, provisional=_provisional(start, end))


def _provisional(start: date, end: date) -> bool:
    """Whether a day after `start` up to `end` lies in a year without an arrangement."""
    if end <= start:
        return False
    first = start + timedelta(days=1)
    return not all(arrangement_published(y) for y in range(first.year, end.year + 1))


def _within(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise DomainError(
            "calendar_out_of_range",
            f"{day.isoformat()} lies outside the days the calendar knows "
            f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})",
        )


def _count_bounds(n: int) -> None:
    if not 0 <= n <= MAX_COUNT:
        raise DomainError(
            "validation_error", f"a count of working days runs from 0 to {MAX_COUNT}, not {n}"
        )


def span_end(start: datetime, span: Span) -> InstantDeadline:
    """The end of a rule's span from `start`: `working_days` counted on the arrangement (at
    the same Beijing time of day), or `days` on the calendar (never provisional)."""
    if span.working_days is not None:
        return add_working_days_at(start, span.working_days)
    return InstantDeadline(at=start + timedelta(days=span.days or 0), provisional=False)
