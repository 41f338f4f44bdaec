"""Reading and writing evaluations."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.risk.models import RiskEvaluation


def latest_evaluation(session: Session, institution_id: str) -> RiskEvaluation | None:
    return session.scalar(
        select(RiskEvaluation)
        .where(RiskEvaluation.institution_id == institution_id)
        .order_by(RiskEvaluation.as_of.desc(), RiskEvaluation.created_at.desc())
        .limit(1)
    )
