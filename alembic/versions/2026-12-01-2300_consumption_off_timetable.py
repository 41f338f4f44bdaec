"""consumptions: off_timetable

A lesson reported with more lessons consumed than the filed sessions bought had started by its
`occurred_at` (claimed early) is accepted and flagged, so that the parent can dispute it and
the `consumption_pace` indicator shows it to the regulator.

Revision ID: 8d3b6f2e4a17
Revises: 4e2a7c9d1b36
Create Date: 2026-12-01 23:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8d3b6f2e4a17'
down_revision: str | Sequence[str] | None = '4e2a7c9d1b36'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "consumptions",
        sa.Column("off_timetable", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("consumptions", schema=None) as batch_op:
        batch_op.drop_column("off_timetable")
