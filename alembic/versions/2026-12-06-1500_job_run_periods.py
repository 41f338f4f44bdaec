"""One scheduled run per job and slot: the slot a scheduler's run is for, unique per job.

A scheduler that lost its advisory lock while a job ran (its lock's connection cut) may still
believe it leads at its next tick; the index refuses its second run of a slot, so two
schedulers can never both run a job for the same slot.

Revision ID: 5d2a8c6e4f71
Revises: 2f9b6d4e8a15
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2a8c6e4f71"
down_revision: str | Sequence[str] | None = "2f9b6d4e8a15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEDULED = "period IS NOT NULL"


def upgrade() -> None:
    op.add_column("job_runs", sa.Column("period", sa.String(32), nullable=True))
    op.create_index(
        "uq_job_runs_period",
        "job_runs",
        ["name", "period"],
        unique=True,
        postgresql_where=sa.text(SCHEDULED),
        sqlite_where=sa.text(SCHEDULED),
    )


def downgrade() -> None:
    op.drop_index("uq_job_runs_period", table_name="job_runs")
    op.execute("ALTER TABLE job_runs DROP COLUMN period")
