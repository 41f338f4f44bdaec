"""Per-region policy values. The most specific region that sets a key wins (DOMAIN.md: where a
locality may set its own value, keep it per region with a default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.registry.models import RegionSetting
from service.registry.regions import ancestry


@dataclass(frozen=True)
class Policy:
    key: str
    default: Any
    kind: type
    meaning: str


POLICIES = {
    p.key: p
    for p in [
        Policy(
            "confirmation_window_days",
            7,
            int,
            "days after a lesson in which the parent may dispute it; released after",
        ),
        Policy(
            "refund_respond_days",
            5,
            int,
            "days the institution has to answer a refund before it is accepted for it",
        ),
        Policy(
            "auto_freeze_on_critical",
            False,
            bool,
            "freeze releases automatically when an institution becomes critical",
        ),
        Policy(
            "risk_thresholds",
            {},
            dict,
            "overrides of risk indicator thresholds and weights, by indicator code",
        ),
    ]
}


def get(session: Session, region_code: str, key: str) -> Any:
    policy = POLICIES[key]
    rows = {
        r.region_code: r.value
        for r in session.scalars(
            select(RegionSetting).where(
                RegionSetting.key == key, RegionSetting.region_code.in_(ancestry(region_code))
            )
        )
    }
    for code in ancestry(region_code):
        if code in rows:
            return rows[code]
    return policy.default


def put(
    session: Session, *, region_code: str, key: str, value: Any, now: datetime
) -> RegionSetting:
    policy = POLICIES.get(key)
    if policy is None:
        raise DomainError(
            "validation_error", f"unknown setting {key!r}; known: {', '.join(POLICIES)}"
        )
    if not isinstance(value, policy.kind) or (policy.kind is int and isinstance(value, bool)):
        raise DomainError("validation_error", f"{key} must be a {policy.kind.__name__}")
    if policy.kind is int and not 0 <= value <= 90:
        raise DomainError("validation_error", f"{key} must be between 0 and 90")
    row = session.get(RegionSetting, (region_code, key))
    if row is None:
        row = RegionSetting(region_code=region_code, key=key, value=value, updated_at=now)
        session.add(row)
    else:
        row.value, row.updated_at = value, now
    session.flush()
    return row
