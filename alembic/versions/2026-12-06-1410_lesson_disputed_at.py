"""When a parent disputed a lesson: the risk sweep judges dispute rates by it; and refunds by
when they were requested, for the sweep's window of requests.

Lessons disputed before this migration take their report's instant (the dispute fell inside
the window that followed it).

Revision ID: 2f9b6d4e8a15
Revises: 7e1c5a9d3b46
Create Date: 2026-12-06 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "2f9b6d4e8a15"
down_revision: str | Sequence[str] | None = "7e1c5a9d3b46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPUTED = "disputed_at IS NOT NULL"


def upgrade() -> None:
    op.add_column("consumptions", sa.Column("disputed_at", UTCDateTime(), nullable=True))
    op.execute(
        "UPDATE consumptions SET disputed_at = reported_at "
        "WHERE status IN ('disputed', 'upheld', 'reversed')"
    )
    op.create_index(
        "ix_consumptions_disputed_at",
        "consumptions",
        ["disputed_at"],
        postgresql_where=sa.text(DISPUTED),
        sqlite_where=sa.text(DISPUTED),
    )
    op.create_index("ix_refunds_requested", "refunds", ["requested_at"])


def downgrade() -> None:
    op.drop_index("ix_refunds_requested", table_name="refunds")
    op.drop_index("ix_consumptions_disputed_at", table_name="consumptions")
    op.execute("ALTER TABLE consumptions DROP COLUMN disputed_at")
