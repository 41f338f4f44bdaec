"""A record of every job run: what ran, for which instant, how it ended."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class JobRun(Base):
    __tablename__ = "job_runs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))  # running | ok | failed
    runner: Mapped[str | None] = mapped_column(String(80), nullable=True)  # host:pid that ran it
    summary: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The scheduled slot a scheduler's run is for ("2026-12-06" for a daily job, the interval's
    # start for a periodic one): one run per job and slot, whichever scheduler believes it
    # leads (a unique index fences off a leader that lost its lock mid-run). None: run by hand.
    period: Mapped[str | None] = mapped_column(String(32), nullable=True)


Index(
    "uq_job_runs_period",
    JobRun.name,
    JobRun.period,
    unique=True,
    postgresql_where=text("period IS NOT NULL"),
    sqlite_where=text("period IS NOT NULL"),
)
