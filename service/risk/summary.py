"""The latest risk evaluation of an institution, as shown next to its registry record."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def risk_summary(session: Session, institution_id: str, *, with_indicators: bool) -> dict[str, Any]:
    """Until the first sweep has evaluated an institution it has no score: `null`, not a
    made-up `low`."""
    from service.risk.store import latest_evaluation

    latest = latest_evaluation(session, institution_id)
    if latest is None:
        out: dict[str, Any] = {"score": None, "level": None, "evaluated_at": None}
        if with_indicators:
            out["indicators"] = []
        return out
    out = {"score": latest.score, "level": latest.level, "evaluated_at": latest.as_of.isoformat()}
    if with_indicators:
        out["indicators"] = latest.indicators
    return out
