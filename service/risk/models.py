"""Risk evaluations (the history the dashboard draws) and alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class RiskEvaluation(Base):
    """One institution's score and indicators as judged at `as_of`."""

    __tablename__ = "risk_evaluations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16))
    indicators: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_risk_evaluations_inst_asof", RiskEvaluation.institution_id, RiskEvaluation.as_of)


class Alert(Base):
    """Opened when an institution's level rises; at most one not-yet-resolved per institution
    (a partial unique index makes that a database fact)."""

    __tablename__ = "risk_alerts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    indicators: Mapped[Any] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledge_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolve_note: Mapped[str | None] = mapped_column(Text, nullable=True)


Index(
    "uq_risk_alerts_one_active",
    Alert.institution_id,
    unique=True,
    postgresql_where=text("status <> 'resolved'"),
    sqlite_where=text("status <> 'resolved'"),
)
Index("ix_risk_alerts_status", Alert.status, Alert.opened_at)
