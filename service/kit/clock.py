"""The one place that reads the wall clock. Domain code is handed `now`; only edges call this."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from service.errors import DomainError

SHANGHAI = ZoneInfo("Asia/Shanghai")


class BoundsOfAsOf(Protocol):
    """How far `as_of` may stray from now (the service's Settings carry both)."""

    clock_skew_seconds: int
    as_of_max_past_days: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def local(instant: datetime) -> datetime:
    """The instant on Beijing time, where the rules about the clock are judged."""
    return instant.astimezone(SHANGHAI)


def local_date(instant: datetime) -> date:
    return local(instant).date()


def start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def end_of_local_day(day: date) -> datetime:
    """23:59:59.999999 Beijing time: when the nightly jobs of `day` are judged."""
    return datetime.combine(day, time.max, tzinfo=SHANGHAI)


def check_as_of(as_of: datetime, *, now: datetime, settings: BoundsOfAsOf) -> None:
    """A job or sweep judges as if the clock read `as_of`: never the future (a future-dated
    evaluation would stand as the latest until real time caught up, and a future-dated release
    would pay lessons still inside their dispute window), nor further back than the bound."""
    if as_of > now + timedelta(seconds=settings.clock_skew_seconds):
        raise DomainError(
            "as_of_in_future",
            f"as_of {as_of.isoformat()} is later than now ({now.isoformat()})",
        )
    if as_of < now - timedelta(days=settings.as_of_max_past_days):
        raise DomainError(
            "as_of_too_old",
            f"as_of {as_of.isoformat()} is more than {settings.as_of_max_past_days} days ago",
        )
