"""Per-region policy values. The most specific region that sets a key wins (DOMAIN.md: where a
locality may set its own value, keep it per region with a default)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.policy import knobs
from service.registry.models import RegionSetting, Regulator
from service.registry.regions import ancestry, is_valid_region


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


def _invalid(field: str, message: str) -> DomainError:
    errors = [{"field": f"body.{field}", "code": "invalid_setting", "message": message}]
    return DomainError("validation_error", f"{field}: {message}", extra={"errors": errors})


def _checked(key: str, value: Any) -> Any:
    policy = POLICIES.get(key)
    if policy is None:
        raise _invalid("key", f"unknown setting {key!r}; known: {', '.join(POLICIES)}")
    if not isinstance(value, policy.kind) or (policy.kind is int and isinstance(value, bool)):
        raise _invalid("value", f"{key} must be a {policy.kind.__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= 90:
        raise _invalid("value", f"{key} must be between 0 and 90")
    if key == "risk_thresholds":
        try:
            return knobs.validate_overrides(value)
        except knobs.InvalidOverride as exc:
            errors = [
                {"code": "invalid_setting", **e, "field": f"body.value.{e['field']}"}
                for e in exc.errors
            ]
            raise DomainError("validation_error", str(exc), extra={"errors": errors}) from exc
    return value


def put(
    session: Session, *, region_code: str, key: str, value: Any, now: datetime
) -> RegionSetting:
    """Set `key` for `region_code` (a real division code), after checking the value is one
    that takes effect: a setting accepted here is never ignored or failing later."""
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    value = _checked(key, value)
    row = session.get(RegionSetting, (region_code, key))
    if row is None:
        row = RegionSetting(region_code=region_code, key=key, value=value, updated_at=now)
        session.add(row)
    else:
        row.value, row.updated_at = value, now
    session.flush()
    return row


def set_for(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    key: str,
    value: Any,
    now: datetime,
) -> RegionSetting:
    """A regulator sets a policy for a region of theirs. Audited, with the value before."""
    from service.registry.institutions import audit, region_of_regulator

    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    region_of_regulator(regulator, region_code)
    before = session.get(RegionSetting, (region_code, key))
    old = before.value if before is not None else None
    row = put(session, region_code=region_code, key=key, value=value, now=now)
    audit(session, actor=f"regulator:{regulator.id}", action=f"setting:{key}",
          subject=region_code, detail={"before": old, "after": row.value}, now=now)  # fmt: skip
    return row


def risk_config(session: Session, region_code: str) -> knobs.RiskConfig:
    """The risk knobs in force for a region: the defaults with its overrides."""
    return knobs.merged(get(session, region_code, "risk_thresholds"))
