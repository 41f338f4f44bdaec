"""Lessons reported ahead of the timetable, by when reported: a partial index, so the risk
sweep's read of them no longer goes through every lesson reported in its lookback (measured
on a year's replay of 100 schools: a few hundred of some twenty thousand).

The predicate is written as each database's SQL for `off_timetable IS true` is rendered, so
that both planners see the sweep's condition imply it.

Revision ID: e57d1f926c4a
Revises: 5d2a8c6e4f71
Create Date: 2026-12-06 18:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e57d1f926c4a"
down_revision: str | Sequence[str] | None = "5d2a8c6e4f71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_consumptions_ahead",
        "consumptions",
        ["reported_at"],
        postgresql_where=sa.text("off_timetable IS true"),
        sqlite_where=sa.text("off_timetable IS 1"),
    )


def downgrade() -> None:
    op.drop_index("ix_consumptions_ahead", table_name="consumptions")
