"""The rollup tables a province publishes and the national database receives (logical
replication: the same tables on both sides, the province in every key, so the provinces'
rows never collide). A province writes only its own province's rows; the national database
writes none (service.national.rollups)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import Money, MoneyTotal, UTCDateTime
from service.kit.db import Base


class NationalProvince(Base):
    """One province's rollup as a whole, rewritten by each refresh in the same transaction as
    its other rows: `refreshed_at` is the instant all of that province's rows stand at (the
    national view's as-of; a subscription applies a transaction whole, so what the national
    database holds of one province is always one refresh)."""

    __tablename__ = "national_provinces"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)  # e.g. 220000
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    institutions: Mapped[int] = mapped_column(Integer)
    critical: Mapped[int] = mapped_column(Integer)
    high: Mapped[int] = mapped_column(Integer)
    medium: Mapped[int] = mapped_column(Integer)
    low: Mapped[int] = mapped_column(Integer)
    unevaluated: Mapped[int] = mapped_column(Integer)
    escrow: Mapped[Decimal] = mapped_column(MoneyTotal())  # the ledger's escrow cash
    owed: Mapped[Decimal] = mapped_column(MoneyTotal())  # prepaid, owed to parents
    with_statement: Mapped[int] = mapped_column(Integer)  # institutions whose bank reported
    escrow_reported: Mapped[Decimal] = mapped_column(MoneyTotal())  # the ledger's, of those
    bank_balance: Mapped[Decimal] = mapped_column(MoneyTotal())  # their banks' last word
    open_alerts: Mapped[int] = mapped_column(Integer)
    open_wind_downs: Mapped[int] = mapped_column(Integer)


class NationalDistrict(Base):
    """A district's coverage in a province's rollup: its money and its levels."""

    __tablename__ = "national_districts"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    institutions: Mapped[int] = mapped_column(Integer)
    critical: Mapped[int] = mapped_column(Integer)
    high: Mapped[int] = mapped_column(Integer)
    escrow: Mapped[Decimal] = mapped_column(MoneyTotal())
    owed: Mapped[Decimal] = mapped_column(MoneyTotal())
    with_statement: Mapped[int] = mapped_column(Integer)
    escrow_reported: Mapped[Decimal] = mapped_column(MoneyTotal())
    bank_balance: Mapped[Decimal] = mapped_column(MoneyTotal())


class NationalInstitution(Base):
    """An institution in a province's rollup: its level and its balances."""

    __tablename__ = "national_institutions"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(16))
    level: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: not evaluated
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    escrow: Mapped[Decimal] = mapped_column(Money())  # the ledger's escrow cash
    owed: Mapped[Decimal] = mapped_column(Money())  # prepaid, owed to parents
    bank_balance: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)  # None: none
    bank_day: Mapped[date | None] = mapped_column(Date, nullable=True)


class NationalAlert(Base):
    """A case not yet closed, in a province's rollup."""

    __tablename__ = "national_alerts"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # open | acknowledged
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NationalWindDown(Base):
    """A wind-down, in a province's rollup."""

    __tablename__ = "national_wind_downs"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    wind_down_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(16))  # closed | absconded | revoked
    status: Mapped[str] = mapped_column(String(8))  # open | closed
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shortfall: Mapped[Decimal] = mapped_column(Money())


TABLES = (NationalProvince, NationalDistrict, NationalInstitution, NationalAlert, NationalWindDown)


class NationalSync(Base):
    """The national database's own record of how it follows each province (never published,
    never sent: service.national.follow writes it). `state` is `following`, or `resyncing`
    while the subscription copies the province whole again after the province's leader
    changed: the national view then shows the province's last as-of and no figures."""

    __tablename__ = "national_sync"
    province: Mapped[str] = mapped_column(String(6), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))  # following | resyncing
    since: Mapped[datetime] = mapped_column(UTCDateTime())  # when it entered that state
    reason: Mapped[str] = mapped_column(String(200))
    system_id: Mapped[str] = mapped_column(String(20))  # the leader subscribed to: its system
    timeline: Mapped[int] = mapped_column(Integer)  # and its timeline
    last_as_of: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
