"""A regulator changes a region's rule pack (`POST /rule-packs`, the workbench's pack page):
the rules checked against their models, a new version from a day, audited with the rules in
force before. Every door calls `change`, so none skips a check (nor, once approvals exist, the
second person: `submit` asks through the approvals registry, and `rule_pack_change` is on the
default four-eyes list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.policy import approvals, packs
from service.policy import rules as r
from service.policy.models import RulePackVersion
from service.registry.models import Regulator


def change(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    sector: str,
    effective_from: date,
    rules: Mapping[str, Any],
    reason: str,
    now: datetime,
) -> RulePackVersion:
    """Define `rules` ({name: {value, source}}) at a region of the regulator's, for a sector
    (or `all`), from `effective_from` (today or later)."""
    from service.registry.institutions import audit, region_of_regulator

    if region_code == r.NATIONAL:
        raise DomainError("out_of_region", "the national pack is the service's, not an office's")
    region_of_regulator(regulator, region_code)
    checked = packs.checked(sector, rules)
    before = packs.resolve(session, region_code, sector, on=effective_from)
    actor = f"regulator:{regulator.id}"
    row = packs.define(session, region_code=region_code, sector=sector,
                       effective_from=effective_from, rules=checked, reason=reason, actor=actor,
                       now=now)  # fmt: skip
    audit(session, actor=actor, action="rule_pack_change", subject=f"{region_code}:{sector}",
          detail={"version": row.version, "effective_from": effective_from.isoformat(),
                  "reason": reason, "changed": row.changed,
                  "before": {k: before.cited[k].value for k in checked},
                  "after": {k: e.value for k, e in checked.items()}},
          now=now, region_code=region_code)  # fmt: skip
    return row


def submit(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    sector: str,
    effective_from: date,
    rules: Mapping[str, Any],
    reason: str,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    """Every door's way to change a pack: at once, or a pending `rule_pack_change` where the
    region's pack asks for four eyes (judged first as it would run, so a bad rule is refused at
    once). The runner is the one `region_settings` registers, dispatching on `rules`."""
    payload = {"region_code": region_code, "sector": sector, "rules": dict(rules),
               "effective_from": effective_from.isoformat(), "reason": reason}  # fmt: skip
    return approvals.submit(session, action="rule_pack_change", office=regulator,
                            target=f"{region_code}:{sector}", region_code=region_code,
                            payload=payload, now=now)  # fmt: skip


def run(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """An approved (or unguarded) change, as `submit` asked it: the version as JSON."""
    row = change(session, regulator=office, region_code=str(payload["region_code"]),
                 sector=str(payload["sector"]), rules=payload["rules"], now=now,
                 effective_from=date.fromisoformat(str(payload["effective_from"])),
                 reason=str(payload["reason"]))  # fmt: skip
    return {"id": row.id, "region_code": row.region_code, "sector": row.sector,
            "version": row.version, "effective_from": row.effective_from.isoformat(),
            "rules": row.rules, "changed": list(row.changed), "reason": row.reason,
            "actor": row.actor, "created_at": row.created_at.isoformat()}  # fmt: skip


def describe(payload: Mapping[str, Any]) -> list[approvals.Fact]:
    rules = payload.get("rules") or {}
    return [approvals.Fact(label="region", value=payload.get("region_code")),
            approvals.Fact(label="setting", value=sorted(rules)),
            approvals.Fact(label="value_after",
                           value={k: (v or {}).get("value") for k, v in rules.items()}),
            approvals.Fact(label="effective_from", value=payload.get("effective_from")),
            approvals.Fact(label="reason", value=payload.get("reason"))]  # fmt: skip
