"""The one place that reads the wall clock. Domain code is handed `now`; only edges call this."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


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
