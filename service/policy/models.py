"""Rule packs as stored: every version of every region's pack, per sector, kept."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class RulePackVersion(Base):
    """A version of a region's pack for a sector (or `all`), from the day it takes effect
    (Beijing): the rules it defines ({rule: {value, source}}), laid over the versions of the
    same layer before it (service.policy.packs); `changed` names those whose value or source
    it changed. Versions are never updated or deleted: they are what a past day was judged
    by."""

    __tablename__ = "rule_packs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    sector: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    changed: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("region_code", "sector", "version", name="uq_rule_packs_version"),
    )


Index("ix_rule_packs_in_effect", RulePackVersion.region_code, RulePackVersion.effective_from)


class CreditListEntry(Base):
    """An institution on a list a regulator keeps (`dishonest_debtors`, `abnormal_operations`):
    from `listed_at` until `removed_at`. An entry gate naming the list refuses prepaid sales
    while it is on it (service.policy.credit_lists). Entries are closed, never deleted."""

    __tablename__ = "credit_list_entries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32))
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    reason: Mapped[str] = mapped_column(Text)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    listed_by: Mapped[str] = mapped_column(String(80))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    removal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


Index(
    "ix_credit_list_entries_institution", CreditListEntry.institution_id, CreditListEntry.list_name
)
