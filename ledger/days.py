"""The ledger's day: a Beijing calendar day, at whose end each account's figures are closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# China keeps one offset all year: a fixed one is exact, and the same in SQL (schema.py).
OFFSET = timedelta(hours=8)


def day_start(at: datetime) -> datetime:
    """The instant the Beijing day of `at` began, in UTC."""
    local = at.astimezone(UTC) + OFFSET
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - OFFSET
