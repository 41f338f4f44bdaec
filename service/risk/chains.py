"""Links between institutions by sponsor (举办者, issue 35): a campus with a hard signal is
evidence at its siblings, weighed there with their own signs (`indicators.chain_sibling`); a
campus at `high` on its own soft signs (a slow bleed one campus ahead) is weaker evidence.

A sweep judges every institution once, finds the sponsors with a campus carrying a hard
signal (from that judgement, or, for a sibling outside the sweep, from its latest evaluation),
and judges their other campuses again with the chain in view. An honest closure refunded in
full carries no hard signal, so it raises nothing at its siblings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from service.registry.models import Institution
from service.risk.facts import Facts
from service.risk.indicators import Context, Indicator, Sibling
from service.risk.models import RiskEvaluation
from service.risk.scoring import Verdict, level_of, rank

# The indicators that are hard facts: money gone, a refund the bank rejected, refunds left
# unanswered, a reserve short, a closure whose refunds did not follow, a wind-down opened by
# a regulator. A sibling carries a hard signal when one of them holds it at `high` or above.
HARD = frozenset(
    {"refund_failed", "escrow_shortfall", "refund_overdue", "reserve_shortfall",
     "closure_default", "wind_down"}
)  # fmt: skip

# A sibling outside the sweep counts by its latest evaluation of these last days.
OUTSIDE_DAYS = 30


def hard_codes(indicators: list[Indicator] | list[dict[str, Any]]) -> tuple[str, ...]:
    out = []
    for i in indicators:
        code, floor = (i.code, i.floor) if isinstance(i, Indicator) else (i["code"], i["floor"])
        if code in HARD and floor is not None and rank(floor) >= rank("high"):
            out.append(code)
    return tuple(dict.fromkeys(out))


def own_high(indicators: list[Indicator] | list[dict[str, Any]]) -> tuple[str, ...]:
    """The codes of the signs that put a campus at `high` or above on its own (without its
    own siblings: `chain_sibling` left out, so two campuses do not raise each other), or ()."""
    mine = []
    for i in indicators:
        code, weight, floor = (
            (i.code, i.contribution, i.floor)
            if isinstance(i, Indicator)
            else (i["code"], int(i["contribution"]), i["floor"])
        )
        if code != "chain_sibling":
            mine.append((code, weight, floor))
    score = sum(w for _, w, _ in mine)
    floored = any(fl is not None and rank(fl) >= rank("high") for _, _, fl in mine)
    if rank(level_of(score)) < rank("high") and not floored:
        return ()
    return tuple(dict.fromkeys(code for code, w, fl in mine if w > 0 or fl is not None))


def _sibling(inst_id: str, level: str, indicators: Any) -> Sibling | None:
    """The campus as a sibling's evidence: by its hard signals, else by its own soft signs at
    `high` or above, else none."""
    codes = hard_codes(indicators)
    if codes:
        return Sibling(institution_id=inst_id, codes=codes, level=level)
    soft = own_high(indicators)
    if soft and rank(level) >= rank("high"):
        return Sibling(institution_id=inst_id, codes=soft, level=level, hard=False)
    return None


def with_chains(
    session: Session,
    ctx: Context,
    facts: dict[str, Facts],
    verdicts: dict[str, Verdict],
) -> Context:
    """The context with each sponsor's campuses that carry a hard signal."""
    sponsors = {f.sponsor for f in facts.values() if f.sponsor}
    if not sponsors:
        return ctx
    chain: dict[str, list[Sibling]] = {}
    for inst_id, v in verdicts.items():
        sponsor = facts[inst_id].sponsor
        sib = _sibling(inst_id, v.level, v.indicators) if sponsor else None
        if sponsor and sib is not None:
            chain.setdefault(sponsor, []).append(sib)
    for sponsor, sib in _outside(session, sponsors, set(facts), ctx.as_of, OUTSIDE_DAYS):
        chain.setdefault(sponsor, []).append(sib)
    return replace(ctx, chain=chain)


def _outside(
    session: Session, sponsors: set[str], inside: set[str], as_of: datetime, window: int
) -> list[tuple[str, Sibling]]:
    """Siblings outside the sweep with a hard signal in their latest evaluation of the last
    `window` days."""
    others = (
        select(Institution.id, Institution.sponsor)
        .where(Institution.sponsor.in_(sorted(sponsors)), Institution.created_at <= as_of)
        .subquery()
    )
    last = (
        select(RiskEvaluation.institution_id, func.max(RiskEvaluation.as_of).label("at"))
        .join(others, others.c.id == RiskEvaluation.institution_id)
        .where(RiskEvaluation.as_of <= as_of, RiskEvaluation.as_of > as_of - timedelta(days=window))
        .group_by(RiskEvaluation.institution_id)
        .subquery()
    )
    rows = session.execute(
        select(others.c.sponsor, RiskEvaluation.institution_id, RiskEvaluation.level,
               RiskEvaluation.indicators)
        .join(last, and_(RiskEvaluation.institution_id == last.c.institution_id,
                         RiskEvaluation.as_of == last.c.at))
        .join(others, others.c.id == RiskEvaluation.institution_id)
    )  # fmt: skip
    out = []
    for sponsor, inst_id, level, indicators in rows:
        sib = _sibling(inst_id, level, list(indicators or []))
        if inst_id not in inside and sib is not None:
            out.append((sponsor, sib))
    return out


def linked(facts: dict[str, Facts], ctx: Context) -> list[str]:
    """The institutions whose sponsor has another campus with a hard signal."""
    return [
        i
        for i, f in facts.items()
        if f.sponsor and any(s.institution_id != i for s in ctx.chain.get(f.sponsor, []))
    ]
