"""A risk sweep: evaluate every institution in scope as of an instant, keep the history,
open alerts where levels rose, and freeze where the region's policy says so."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.kit.clock import check_as_of
from service.kit.ids import new_id
from service.registry import institutions as registry
from service.registry import policy
from service.registry.models import Institution, Regulator
from service.registry.regions import scope_prefix
from service.risk import alerts, config
from service.risk.facts import Facts, gather
from service.risk.indicators import INDICATORS, Context
from service.risk.models import RiskEvaluation
from service.risk.scoring import Verdict, judge, rank


def evaluate(facts: Facts, ctx: Context, cfg: dict[str, dict[str, Any]]) -> Verdict:
    fired = [
        ind for code, fn in INDICATORS.items() if (ind := fn(facts, ctx, cfg[code])) is not None
    ]
    return judge(fired)


def _region_refund_rates(facts: dict[str, Facts], as_of: datetime) -> dict[str, Decimal]:
    rates: dict[str, list[Decimal]] = {}
    for f in facts.values():
        if f.active_enrollments:
            recent = f.total("refund_requests", as_of, 14)
            rates.setdefault(f.region_code[:4], []).append(Decimal(recent) / f.active_enrollments)
    return {k: Decimal(statistics.median(v)) for k, v in rates.items()}


def _previous_levels(session: Session, ids: list[str], as_of: datetime) -> dict[str, str]:
    last = (
        select(RiskEvaluation.institution_id, func.max(RiskEvaluation.as_of).label("at"))
        .where(RiskEvaluation.as_of < as_of, RiskEvaluation.as_of > as_of - timedelta(days=30))
        .group_by(RiskEvaluation.institution_id)
        .subquery()
    )
    rows = session.execute(
        select(RiskEvaluation.institution_id, RiskEvaluation.level).join(
            last,
            and_(
                RiskEvaluation.institution_id == last.c.institution_id,
                RiskEvaluation.as_of == last.c.at,
            ),
        )
    )
    wanted = set(ids)
    return {i: lvl for i, lvl in rows if i in wanted}


def sweep(
    session: Session,
    *,
    as_of: datetime,
    now: datetime,
    region_prefix: str | None = None,
    institution_ids: list[str] | None = None,
) -> dict[str, Any]:
    facts = gather(
        session, as_of=as_of, institution_ids=institution_ids, region_prefix=region_prefix
    )
    ids = list(facts)
    ctx = Context(as_of, _region_refund_rates(facts, as_of))
    cfgs: dict[str, dict[str, dict[str, Any]]] = {}
    previous = _previous_levels(session, ids, as_of)
    active = alerts.active_alerts(session, ids)
    session.execute(
        delete(RiskEvaluation).where(
            RiskEvaluation.as_of == as_of, RiskEvaluation.institution_id.in_(ids)
        )
    )
    levels: Counter[str] = Counter()
    opened = frozen = 0
    rows = []
    for inst_id, f in facts.items():
        if f.region_code not in cfgs:
            cfgs[f.region_code] = config.merged(
                policy.get(session, f.region_code, "risk_thresholds")
            )
        verdict = evaluate(f, ctx, cfgs[f.region_code])
        levels[verdict.level] += 1
        rows.append(
            RiskEvaluation(
                id=new_id("rev"),
                institution_id=inst_id,
                as_of=as_of,
                score=verdict.score,
                level=verdict.level,
                indicators=[i.wire() for i in verdict.indicators],
                created_at=now,
            )
        )
        before = previous.get(inst_id, "low")
        if verdict.level != "low" and rank(verdict.level) > rank(before):
            opened += alerts.on_rise(
                session,
                institution_id=inst_id,
                verdict=verdict,
                active=active.get(inst_id),
                at=as_of,
            )
        if verdict.level == "critical" and policy.get(
            session, f.region_code, "auto_freeze_on_critical"
        ):
            inst = session.get(Institution, inst_id)
            if inst is not None and inst.status == "active":
                registry.set_status(
                    session,
                    institution=inst,
                    status="frozen",
                    actor="risk_sweep",
                    reason=f"critical risk (score {verdict.score}) with auto-freeze policy",
                    now=now,
                )
                frozen += 1
    session.add_all(rows)
    session.flush()
    return {
        "as_of": as_of.isoformat(),
        "institutions_evaluated": len(facts),
        "alerts_opened": opened,
        "institutions_frozen": frozen,
        "levels": {lvl: levels.get(lvl, 0) for lvl in config.LEVELS},
    }


def sweep_as(
    session: Session, *, regulator: Regulator, as_of: datetime, now: datetime, settings: Settings
) -> dict[str, Any]:
    """A regulator re-evaluates their region as the clock read `as_of` (never later than now,
    nor before the re-run bound). Audited."""
    check_as_of(as_of, now=now, settings=settings)
    out = sweep(session, as_of=as_of, now=now, region_prefix=scope_prefix(regulator.region_code))
    registry.audit(session, actor=f"regulator:{regulator.id}", action="risk:sweep",
                   subject=regulator.region_code, detail={"as_of": as_of.isoformat()},
                   now=now)  # fmt: skip
    return out


def history_of(
    session: Session, *, regulator: Regulator, institution_id: str, limit: int
) -> list[RiskEvaluation]:
    """An institution's evaluations, the latest `limit` of them, oldest first."""
    registry.in_regulator_scope(session, regulator, institution_id)
    rows = session.scalars(
        select(RiskEvaluation)
        .where(RiskEvaluation.institution_id == institution_id)
        .order_by(RiskEvaluation.as_of.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
