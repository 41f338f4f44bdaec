"""`POST /region-settings` as it was, over rule packs: each of the old keys is one rule of the
region's `all` layer, and setting it writes a new version of that layer (a regional override)
with the old key's value as the rule's. Nothing else stores a setting: the untyped key-value
table is gone (migration 2026-12-07-1430), its rows moved into packs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.clock import local_date
from service.policy import approvals, knobs, pack_changes, packs
from service.policy import rules as r
from service.registry.models import Approval, Regulator
from service.registry.regions import is_valid_region


@dataclass(frozen=True, kw_only=True)
class Key:
    """An old setting: the rule it writes, how its value becomes the rule's and back."""

    rule: str
    kind: type
    to_rule: Callable[[Any], Any]
    from_rule: Callable[[Any], Any]
    choices: tuple[str, ...] = ()


KEYS: dict[str, Key] = {
    "confirmation_window_days": Key(
        rule="confirmation_window",
        kind=int,
        to_rule=lambda v: {"days": v},
        from_rule=lambda v: v.get("days", v.get("working_days")),
    ),
    "refund_respond_days": Key(
        rule="refund_answer_deadline",
        kind=int,
        to_rule=lambda v: {"days": v},
        from_rule=lambda v: v.get("days", v.get("working_days")),
    ),
    "auto_freeze_on_critical": Key(
        rule="auto_freeze_on_critical",
        kind=bool,
        to_rule=lambda v: {"enabled": v},
        from_rule=lambda v: v["enabled"],
    ),
    "case_snooze_max_days": Key(
        rule="case_snooze_max",
        kind=int,
        to_rule=lambda v: {"days": v},
        from_rule=lambda v: v["days"],
    ),
    "parent_warning_from": Key(
        rule="parent_warning_from",
        kind=str,
        to_rule=lambda v: {"level": v},
        from_rule=lambda v: v["level"],
        choices=r.WARNING_FROM,
    ),
    "parent_warning_score": Key(
        rule="parent_warning_score",
        kind=bool,
        to_rule=lambda v: {"enabled": v},
        from_rule=lambda v: v["enabled"],
    ),
    "risk_thresholds": Key(
        rule="risk_thresholds", kind=dict, to_rule=lambda v: v, from_rule=lambda v: v
    ),
}
BY_RULE = {k.rule: name for name, k in KEYS.items()}


@dataclass(frozen=True, kw_only=True)
class Setting:
    """An old key's value as set at a region from a day (what `POST /region-settings`
    answers, and the rules page's history shows)."""

    region_code: str
    key: str
    value: Any
    effective_from: date
    reason: str | None
    actor: str | None
    updated_at: datetime


def _invalid(field: str, message: str) -> DomainError:
    errors = [{"field": f"body.{field}", "code": "invalid_setting", "message": message}]
    return DomainError("validation_error", f"{field}: {message}", extra={"errors": errors})


def _checked(key: str, value: Any) -> Any:
    spec = KEYS.get(key)
    if spec is None:
        raise _invalid("key", f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise _invalid("value", f"{key} must be a {spec.kind.__name__}")
    if spec.choices and value not in spec.choices:
        raise _invalid("value", f"{key} must be one of: {', '.join(spec.choices)}")
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


def value_of(pack: r.RulePack, key: str) -> Any:
    """An old key's value in a resolved pack."""
    spec = KEYS[key]
    return spec.from_rule(pack.cited[spec.rule].value)


def put(
    session: Session,
    *,
    region_code: str,
    key: str,
    value: Any,
    now: datetime,
    effective_from: date | None = None,
    reason: str | None = None,
    actor: str = "service",
    issuer: str = "TuitionGuard",
) -> Setting:
    """Set an old key for a region from a day (default today; never a past day): a new
    version of the region's `all` layer with that one rule changed."""
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    value = _checked(key, value)
    start = effective_from or local_date(now)
    if start < local_date(now):
        raise _invalid("effective_from", "a setting cannot take effect in the past")
    spec = KEYS[key]
    source = r.Source(
        title="Regional override (POST /region-settings)", issuer=issuer, note=reason or None
    )
    entry = r.Entry(value=r.dump_value(spec.rule, r.check_value(spec.rule, spec.to_rule(value))),
                    source=source)  # fmt: skip
    row = packs.define(session, region_code=region_code, sector=r.ALL, effective_from=start,
                       rules={spec.rule: entry}, reason=reason, actor=actor, now=now)  # fmt: skip
    return Setting(region_code=region_code, key=key, value=value, effective_from=start,
                   reason=reason, actor=actor, updated_at=row.created_at)  # fmt: skip


def _set_for(
    session: Session, regulator: Regulator, payload: Mapping[str, Any], now: datetime
) -> Setting:
    """A regulator sets an old key for a region of theirs, from a day, with a reason (the
    payload `change` writes). Audited, with the value in effect before."""
    from service.registry.institutions import audit, region_of_regulator

    region_code, key = str(payload["region_code"]), str(payload["key"])
    value, reason, start = payload["value"], payload.get("reason"), payload.get("effective_from")
    effective_from = date.fromisoformat(start) if start else None
    region_of_regulator(regulator, region_code)
    if key not in KEYS:
        raise _invalid("key", f"unknown setting {key!r}; known: {', '.join(KEYS)}")
    on = effective_from or local_date(now)
    old = value_of(packs.resolve(session, region_code, r.ALL, on=on), key)
    actor = f"regulator:{regulator.id}"
    row = put(session, region_code=region_code, key=key, value=value, now=now,
              effective_from=effective_from, reason=reason, actor=actor,
              issuer=regulator.name)  # fmt: skip
    audit(session, actor=actor, action=f"setting:{key}", subject=region_code,
          detail={"before": old, "after": row.value, "reason": reason,
                  "effective_from": row.effective_from.isoformat()},
          now=now, region_code=region_code)  # fmt: skip
    return row


def history(session: Session, *, regulator: Regulator) -> list[Setting]:
    """Every change of an old key at the regulator's region, the regions inside it and those
    above it, newest first (from the versions of their `all` layers)."""
    out: list[Setting] = []
    for v in packs.versions_in_scope(session, regulator.region_code):
        if v.sector != r.ALL:
            continue
        for rule in v.changed:
            key = BY_RULE.get(rule)
            if key is None or rule not in v.rules:
                continue
            try:
                value = KEYS[key].from_rule(v.rules[rule]["value"])
            except (KeyError, TypeError, AttributeError):
                continue
            out.append(Setting(region_code=v.region_code, key=key, value=value,
                               effective_from=v.effective_from, reason=v.reason,
                               actor=v.actor, updated_at=v.created_at))  # fmt: skip
    return out


# Four eyes (service.policy.approvals): a regional setting is a rule of the region's pack, and
# changing one is `rule_pack_change`. The payload of this door names the old key
# (`{"key", "value", ...}`); `POST /rule-packs` (service.policy.pack_changes) is to send its
# own shape (`{"rules", "sector", ...}`) and this runner to dispatch on it.


def change(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    key: str,
    value: Any,
    now: datetime,
    effective_from: date | None = None,
    reason: str | None = None,
) -> approvals.Done | approvals.Pending:
    """Every door's way to change a regional setting (the API, the workbench's forms): at once,
    or a pending `rule_pack_change` where the region's pack asks for four eyes. The answer of
    a change done is the setting as `RegionSettingRead` shows it."""
    start = effective_from.isoformat() if effective_from else None
    payload = {"region_code": region_code, "key": key, "value": value, "reason": reason,
               "effective_from": start}  # fmt: skip
    return approvals.submit(session, action="rule_pack_change", office=regulator,
                            target=f"{region_code}:{key}"[:80], region_code=region_code,
                            payload=payload, now=now)  # fmt: skip


def _run_change(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    if "rules" in payload:  # POST /rule-packs' door
        return pack_changes.run(session, office, payload, now)
    row = _set_for(session, office, payload, now)
    return {"region_code": row.region_code, "key": row.key, "value": row.value,
            "effective_from": row.effective_from.isoformat(), "reason": row.reason}  # fmt: skip


def _describe_change(session: Session, approval: Approval) -> list[approvals.Fact]:
    p = approval.payload
    if "rules" in p:
        return pack_changes.describe(p)
    start = p.get("effective_from")
    on = date.fromisoformat(start) if start else local_date(approval.requested_at)
    before = None
    if p["key"] in KEYS and is_valid_region(p["region_code"]):
        before = value_of(packs.resolve(session, p["region_code"], r.ALL, on=on), p["key"])
    return [approvals.Fact(label="region", value=p["region_code"]),
            approvals.Fact(label="setting", value=p["key"]),
            approvals.Fact(label="value_now", value=before),
            approvals.Fact(label="value_after", value=p["value"]),
            approvals.Fact(label="effective_from", value=start),
            approvals.Fact(label="reason", value=p.get("reason"))]  # fmt: skip


approvals.register(
    approvals.Approvable(name="rule_pack_change", run=_run_change, describe=_describe_change)
)
