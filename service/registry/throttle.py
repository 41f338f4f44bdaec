"""Failed sign-ins counted per key (a client, a client and an account, an account), for every
sign-in that takes a secret: a parent's access code and an officer's password and code."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.registry.models import LoginThrottle

KEY_LENGTH = 120  # the column's width: a long address or username is cut, never refused


def counter(session: Session, key: str, now: datetime, window: timedelta) -> LoginThrottle:
    """The key's row, locked for this transaction; a window that ran out unlocked starts anew."""
    key = key[:KEY_LENGTH]
    row = session.get(LoginThrottle, key, with_for_update=True)
    if row is None:
        row = LoginThrottle(key=key, failures=0, window_start=now, locked_until=None)
        session.add(row)
    elif now - row.window_start > window and (row.locked_until is None or row.locked_until <= now):
        row.failures, row.window_start, row.locked_until = 0, now, None
    return row


def refuse_if_locked(rows: list[LoginThrottle], now: datetime, what: str) -> None:
    """429 with the longest wait any of the rows still imposes."""
    until = max(
        (r.locked_until for r in rows if r.locked_until and r.locked_until > now), default=None
    )
    if until is not None:
        wait = max(1, math.ceil((until - now).total_seconds()))
        raise DomainError(
            "too_many_attempts", f"too many failed {what}; try again in {wait} seconds",
            retry_after=wait,
        )  # fmt: skip
