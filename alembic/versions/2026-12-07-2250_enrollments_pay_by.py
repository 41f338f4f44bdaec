"""An enrollment's pay_by: unpaid by then, the order lapses (the rule pack's
`unpaid_order_expiry`, 7 days by default): it holds no room under a per-consumer cap, takes no
payment, and the `unpaid_order_expiry` job cancels it (docs/rules.md). Empty for every
enrollment made before: those never lapse, as before.

Revision ID: 4b8e1f6a2d95
Revises: 7e2b4d9c1a63
Create Date: 2026-12-07 22:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
import ledger.types

revision: str = "4b8e1f6a2d95"
down_revision: str | Sequence[str] | None = "7e2b4d9c1a63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(
            sa.Column("pay_by", ledger.types.UTCDateTime(timezone=True), nullable=True)
        )
    # Only the orders that can lapse: the job's scan stays small.
    op.create_index(
        "ix_enrollments_pay_by",
        "enrollments",
        ["pay_by"],
        postgresql_where=sa.text("pay_by IS NOT NULL"),
        sqlite_where=sa.text("pay_by IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_pay_by", table_name="enrollments")
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `enrollments` and lose its
    # triggers, which an earlier migration's downgrade then drops (and fails to find).
    op.execute("ALTER TABLE enrollments DROP COLUMN pay_by")
