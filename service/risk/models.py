"""Risk evaluations (the history the dashboard draws) and alerts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import MoneyTotal, UTCDateTime
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
    # The case's level: raised by a later sweep while the case is open (never lowered).
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged | resolved
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    indicators: Mapped[Any] = mapped_column(JSON)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledge_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolve_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The case work of a supervision office (the workbench's alert queue).
    assignee_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a regulator
    # The person of that office who claimed it (None: given to the office as a whole).
    assignee_officer_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    snooze_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    escalated_to: Mapped[str | None] = mapped_column(String(6), nullable=True)  # region code
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # no_risk_found | rectified | handled | referred (for enforcement), when closed
    outcome: Mapped[str | None] = mapped_column(String(24), nullable=True)
    # The level the case was opened at (null only if `level` was never written).
    opened_level: Mapped[str | None] = mapped_column(String(16), nullable=True)


Index(
    "uq_risk_alerts_one_active",
    Alert.institution_id,
    unique=True,
    postgresql_where=text("status <> 'resolved'"),
    sqlite_where=text("status <> 'resolved'"),
)
Index("ix_risk_alerts_status", Alert.status, Alert.opened_at)


class InstitutionRisk(Base):
    """Each institution's latest evaluation, kept beside the history by every sweep, so that
    lists and overviews of thousands of institutions read one row each."""

    __tablename__ = "institution_risk"
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_institution_risk_level", InstitutionRisk.level, InstitutionRisk.score)


class DistrictDay(Base):
    """What a sweep found in one district (a 6-digit division code) on one Beijing day: the
    count at each level, and the money supervised there. The overview's trends read these
    instead of every institution's history."""

    __tablename__ = "district_days"
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    low: Mapped[int] = mapped_column(Integer, default=0)
    medium: Mapped[int] = mapped_column(Integer, default=0)
    high: Mapped[int] = mapped_column(Integer, default=0)
    critical: Mapped[int] = mapped_column(Integer, default=0)
    # Sums of many accounts: wider than one account (the district's total may exceed any).
    escrow: Mapped[Decimal] = mapped_column(MoneyTotal())  # the ledger's escrow cash
    bank_balance: Mapped[Decimal] = mapped_column(MoneyTotal())  # the banks' last statements
    owed: Mapped[Decimal] = mapped_column(MoneyTotal())  # prepaid, owed to parents


Index("ix_district_days_day", DistrictDay.day)
