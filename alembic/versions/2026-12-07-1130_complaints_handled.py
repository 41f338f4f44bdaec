"""A complaint is open until a regulator of its region marks it handled (issue 31, finding 2:
an enrollment has one open complaint of a category at a time). Complaints filed before this
migration are open.

Revision ID: 4c7d2e9f1b08
Revises: b3e8f1c2d4a6
Create Date: 2026-12-07 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "4c7d2e9f1b08"
down_revision: str | Sequence[str] | None = "b3e8f1c2d4a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("complaints", sa.Column("handled_at", UTCDateTime(), nullable=True))
    op.add_column("complaints", sa.Column("handled_by", sa.String(40), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE complaints DROP COLUMN handled_by")
    op.execute("ALTER TABLE complaints DROP COLUMN handled_at")
