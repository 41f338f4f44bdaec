"""Per-region policy values. The most specific region that sets a key wins (docs/domain.md: where a
locality may set its own value, keep it per region with a default)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.clock import local_date
from service.policy import knobs
from service.registry.models import RegionSetting, Regulator
from service.registry.regions import ancestry, is_valid_region, scope_prefix


@dataclass(frozen=True, kw_only=True)
class Policy:
    key: str
    default: Any
    kind: type
    meaning: str
    choices: tuple[str, ...] = ()  # for a text setting: the values it may take


# The lowest risk level a region discloses to parents on their page ("never": none).
WARNING_FROM = ("medium", "high", "critical", "never")


POLICIES = {
    p.key: p
    for p in [
        Policy(
            key="confirmation_window_days",
            default=7,
            kind=int,
            meaning="days after a lesson in which the parent may dispute it; released after",
        ),
        Policy(
            key="refund_respond_days",
            default=5,
            kind=int,
            meaning="days the institution has to answer a refund before it is accepted for it",
        ),
        Policy(
            key="auto_freeze_on_critical",
            default=False,
            kind=bool,
            meaning="freeze releases automatically when an institution becomes critical",
        ),
        Policy(
            key="case_snooze_max_days",
            default=30,
            kind=int,
            meaning="the longest a case may be snoozed, in days (0: cases are never snoozed)",
        ),
        Policy(
            key="parent_warning_from",
            default="high",
            kind=str,
            meaning="the lowest risk level shown to an institution's parents as a warning",
            choices=WARNING_FROM,
        ),
        Policy(
            key="parent_warning_score",
            default=False,
            kind=bool,
            meaning="whether the warning shown to parents gives the risk score too",
        ),
        Policy(
            key="risk_thresholds",
            default={},
            kind=dict,
            meaning="overrides of risk indicator thresholds and weights, by indicator code",
        ),
    ]
}


def get(session: Session, region_code: str, key: str, *, on: date) -> Any:
    """The value in effect on `on` (a Beijing day): the latest version taken effect by then,
    of the most specific region that has one; else the default."""
    policy = POLICIES[key]
    rows: dict[str, RegionSetting] = {}
    chain = ancestry(region_code)
    for r in session.scalars(_IN_EFFECT, {"key": key, "regions": chain, "on": on}):
        rows[r.region_code] = r  # the later version of a region replaces the earlier
    for code in chain:
        if code in rows:
            return rows[code].value
    return policy.default


# Built once: every lesson reported reads a setting, and building and keying the statement
# cost more than the read.
_IN_EFFECT = (
    select(RegionSetting)
    .where(
        RegionSetting.key == bindparam("key"),
        RegionSetting.region_code.in_(bindparam("regions", expanding=True)),
        RegionSetting.effective_from <= bindparam("on"),
    )
    .order_by(RegionSetting.effective_from)
)


def history(
    session: Session, *, regulator: Regulator, key: str | None = None
) -> list[RegionSetting]:
    """Every version of every setting of the regulator's region and the regions inside it
    (and of the regions above it, which apply in it), newest first."""
    prefix = scope_prefix(regulator.region_code)
    above = ancestry(regulator.region_code)
    stmt = select(RegionSetting).where(
        or_(RegionSetting.region_code.startswith(prefix), RegionSetting.region_code.in_(above))
    )
    if key is not None:
        stmt = stmt.where(RegionSetting.key == key)
    return list(
        session.scalars(
            stmt.order_by(RegionSetting.effective_from.desc(), RegionSetting.updated_at.desc())
        )
    )


def _invalid(field: str, message: str) -> DomainError:
    errors = [{"field": f"body.{field}", "code": "invalid_setting", "message": message}]
    return DomainError("validation_error", f"{field}: {message}", extra={"errors": errors})


def _checked(key: str, value: Any) -> Any:
    policy = POLICIES.get(key)
    if policy is None:
        raise _invalid("key", f"unknown setting {key!r}; known: {', '.join(POLICIES)}")
    if not isinstance(value, policy.kind) or (policy.kind is int and isinstance(value, bool)):
        raise _invalid("value", f"{key} must be a {policy.kind.__name__}")
    if policy.choices and value not in policy.choices:
        raise _invalid("value", f"{key} must be one of: {', '.join(policy.choices)}")
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
    session: Session,
    *,
    region_code: str,
    key: str,
    value: Any,
    now: datetime,
    effective_from: date | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> RegionSetting:
    """Set `key` for `region_code` (a real division code) from `effective_from` (default:
    today in Beijing; never a past day, which would rewrite what was judged), after checking
    the value is one that takes effect: a setting accepted here is never ignored or failing
    later."""
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    value = _checked(key, value)
    today = local_date(now)
    start = effective_from or today
    if start < today:
        raise _invalid("effective_from", "a setting cannot take effect in the past")
    row = session.get(RegionSetting, (region_code, key, start))
    if row is None:
        row = RegionSetting(region_code=region_code, key=key, effective_from=start)
        session.add(row)
    row.value, row.updated_at, row.reason, row.actor = value, now, reason, actor
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
    effective_from: date | None = None,
    reason: str | None = None,
) -> RegionSetting:
    """A regulator sets a policy for a region of theirs, from a day, with a reason. Audited,
    with the value in effect before."""
    from service.registry.institutions import audit, region_of_regulator

    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    region_of_regulator(regulator, region_code)
    if key not in POLICIES:
        raise _invalid("key", f"unknown setting {key!r}; known: {', '.join(POLICIES)}")
    old = get(session, region_code, key, on=effective_from or local_date(now))
    actor = f"regulator:{regulator.id}"
    row = put(session, region_code=region_code, key=key, value=value, now=now,
              effective_from=effective_from, reason=reason, actor=actor)  # fmt: skip
    audit(session, actor=actor, action=f"setting:{key}", subject=region_code,
          detail={"before": old, "after": row.value, "reason": reason,
                  "effective_from": row.effective_from.isoformat()},
          now=now, region_code=region_code)  # fmt: skip
    return row


def risk_config(session: Session, region_code: str, *, on: date) -> knobs.RiskConfig:
    """The risk knobs in force in a region on a day: the defaults with its overrides."""
    return risk_configs(session, [region_code], on=on)[region_code]


def risk_configs(
    session: Session, region_codes: Iterable[str], *, on: date
) -> dict[str, knobs.RiskConfig]:
    """The risk knobs in force in each region on a day, from one read of the overrides of
    all of them and the divisions above them (a sweep covers many districts)."""
    codes = list(dict.fromkeys(region_codes))
    chains = {code: ancestry(code) for code in codes}
    wanted = sorted({c for chain in chains.values() for c in chain})
    rows: dict[str, RegionSetting] = {}
    for r in session.scalars(_IN_EFFECT, {"key": "risk_thresholds", "regions": wanted, "on": on}):
        rows[r.region_code] = r  # the later version of a region replaces the earlier
    merged: dict[str, knobs.RiskConfig] = {}
    out = {}
    for code, chain in chains.items():
        found = next((c for c in chain if c in rows), "")
        if found not in merged:
            merged[found] = knobs.merged(rows[found].value if found else {})
        out[code] = merged[found]
    return out
