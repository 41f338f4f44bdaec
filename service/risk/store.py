"""Reading and writing evaluations."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from service.risk.models import InstitutionRisk, RiskEvaluation


def latest_evaluations(session: Session, institution_ids: list[str]) -> dict[str, RiskEvaluation]:
    """The evaluation each of these institutions stands at (those evaluated), in one read:
    the one `InstitutionRisk` holds, which lists filter and sort by and the parent's page
    discloses, with its indicators from the history. The API, the institution's file and the
    lists so give one level for an institution."""
    if not institution_ids:
        return {}
    current = and_(
        InstitutionRisk.institution_id == RiskEvaluation.institution_id,
        InstitutionRisk.as_of == RiskEvaluation.as_of,
        InstitutionRisk.level == RiskEvaluation.level,
        InstitutionRisk.score == RiskEvaluation.score,
    )
    rows = session.scalars(
        select(RiskEvaluation)
        .join(InstitutionRisk, current)
        .where(RiskEvaluation.institution_id.in_(institution_ids))
        .order_by(RiskEvaluation.created_at, RiskEvaluation.id)  # a re-run: the latest written
    )
    return {r.institution_id: r for r in rows}


def latest_level_is(level: str) -> ColumnElement[bool]:
    """A condition on `Institution`: its latest evaluation is at `level`."""
    from service.registry.models import Institution

    return Institution.id.in_(
        select(InstitutionRisk.institution_id).where(InstitutionRisk.level == level)
    )
