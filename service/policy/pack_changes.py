"""A regulator changes a region's rule pack (`POST /rule-packs`, the workbench's pack page):
the rules checked against their models, a new version from a day, audited with the rules in
force before. Every door calls `change`, so none skips a check (nor, once approvals exist, the
second person: `rule_pack_change` is on the default four-eyes list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.policy import packs
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
