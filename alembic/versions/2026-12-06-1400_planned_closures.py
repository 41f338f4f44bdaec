"""Planned closures: the day an institution closes, and when it gave notice.

Revision ID: 7e1c5a9d3b46
Revises: 4b8d2f6a1c93
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "7e1c5a9d3b46"
down_revision: str | Sequence[str] | None = "4b8d2f6a1c93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("institutions", sa.Column("closing_on", sa.Date(), nullable=True))
    op.add_column("institutions", sa.Column("closure_announced_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild the table and lose its triggers.
    op.execute("ALTER TABLE institutions DROP COLUMN closure_announced_at")
    op.execute("ALTER TABLE institutions DROP COLUMN closing_on")
