"""Per-institution daily rollups, updated in the same transaction as each posting, so that a
risk sweep reads O(institutions × days in its windows) and never the ledger's history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import Date, ForeignKey, Integer
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql import Executable

import ledger
from ledger.types import Money
from service.kit.clock import local_date
from service.kit.db import Base


class InstitutionDay(Base):
    """What happened at one institution on one Beijing day."""

    __tablename__ = "institution_days"
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    deposits_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))  # cash received
    deposits_count: Mapped[int] = mapped_column(Integer, default=0)
    enrollments_paid: Mapped[int] = mapped_column(Integer, default=0)
    lessons_consumed: Mapped[int] = mapped_column(Integer, default=0)
    refund_requests: Mapped[int] = mapped_column(Integer, default=0)
    complaints: Mapped[int] = mapped_column(Integer, default=0)
    prepaid_delta: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))  # owed to parents


COUNTERS = (
    "deposits_count",
    "enrollments_paid",
    "lessons_consumed",
    "refund_requests",
    "complaints",
)
AMOUNTS = ("deposits_amount", "prepaid_delta")


def bump(session: Session, *, institution_id: str, at: datetime, **deltas: int | Decimal) -> None:
    """Add `deltas` to the institution's row for the Beijing day of `at` (an upsert)."""
    bump_many(session, [(institution_id, at, deltas)])


Deltas = dict[str, int | Decimal]


def bump_many(session: Session, changes: list[tuple[str, datetime, Deltas]]) -> None:
    """Several `bump`s in one statement (a bulk ingest touches many institutions at once)."""
    rows: dict[tuple[str, date], dict[str, object]] = {}
    days: dict[datetime, date] = {}  # a batch's changes share a few instants
    for institution_id, at, deltas in changes:
        if not deltas.keys() <= _FIELDS:
            raise KeyError(f"unknown rollup fields {set(deltas) - _FIELDS}")
        day = days.get(at)
        if day is None:
            day = days[at] = local_date(at)
        key = (institution_id, day)
        # One row per key: PostgreSQL refuses an upsert that touches a row twice.
        row = rows.get(key)
        if row is None:
            row = rows[key] = {**_NOTHING, "institution_id": institution_id, "day": day}
        for k, v in deltas.items():
            row[k] = row[k] + v  # type: ignore[operator]
    if not rows:
        return
    session.execute(_upsert(session.get_bind().dialect.name), [rows[k] for k in sorted(rows)])


_FIELDS = frozenset(COUNTERS) | frozenset(AMOUNTS)
_NOTHING: dict[str, object] = {c: 0 for c in COUNTERS} | {a: Decimal("0") for a in AMOUNTS}


@cache
def _upsert(dialect_name: str) -> Executable:
    """One row's upsert, built and compiled once: run for many rows it is one executemany,
    where a multi-row VALUES would be compiled anew for every call."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = InstitutionDay.__table__
    stmt = dialect.insert(table)
    upsert = stmt.on_conflict_do_update(
        index_elements=["institution_id", "day"],
        set_={k: table.c[k] + stmt.excluded[k] for k in (*COUNTERS, *AMOUNTS)},
    )
    return ledger.prebuilt(upsert, dialect_name)
