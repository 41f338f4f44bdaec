"""An enrollment's pay_by counted in working days over a year whose holiday arrangement is not
yet published is marked provisional (as a lesson's window and a refund's deadlines are), so no
answer or page shows a guessed day as a settled one. Every enrollment made before: false (a
pay_by counted in calendar days, or none).

Revision ID: 3c7e5a1f9d24
Revises: 5e2a9c7d4b18
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "3c7e5a1f9d24"
down_revision: str | Sequence[str] | None = "5e2a9c7d4b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table is rebuilt (SQLite keeps its triggers).
    op.add_column(
        "enrollments",
        sa.Column("pay_by_provisional", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `enrollments` and lose its
    # triggers.
    op.execute("ALTER TABLE enrollments DROP COLUMN pay_by_provisional")
