"""Reading and writing evaluations."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from service.risk.models import InstitutionRisk, RiskEvaluation


def latest_evaluation(session: Session, institution_id: str) -> RiskEvaluation | None:
    return session.scalar(
        select(RiskEvaluation)
        .where(RiskEvaluation.institution_id == institution_id)
        .order_by(RiskEvaluation.as_of.desc(), RiskEvaluation.created_at.desc())
        .limit(1)
    )


def latest_evaluations(session: Session, institution_ids: list[str]) -> dict[str, RiskEvaluation]:
    """The latest evaluation of each of these institutions (those evaluated), in one read."""
    if not institution_ids:
        return {}
    latest = (
        select(RiskEvaluation.institution_id, func.max(RiskEvaluation.as_of).label("at"))
        .where(RiskEvaluation.institution_id.in_(institution_ids))
        .group_by(RiskEvaluation.institution_id)
        .subquery()
    )
    rows = session.scalars(
        select(RiskEvaluation)
        .join(
            latest,
            (RiskEvaluation.institution_id == latest.c.institution_id)
            & (RiskEvaluation.as_of == latest.c.at),
        )
        .order_by(RiskEvaluation.created_at)
    )
    return {r.institution_id: r for r in rows}


def latest_level_is(level: str) -> ColumnElement[bool]:
    """A condition on `Institution`: its latest evaluation is at `level`."""
    from service.registry.models import Institution

    return Institution.id.in_(
        select(InstitutionRisk.institution_id).where(InstitutionRisk.level == level)
    )
