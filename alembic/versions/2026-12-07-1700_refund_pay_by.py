"""A refund consented to (answered, accepted for the institution, or approved) is to be paid by
the bank within the pack's `refund_payment_deadline` working days: its `pay_by`, and whether
that was counted over a year whose holiday arrangement is not yet published. Earlier refunds
have none (never overdue for payment).

Revision ID: 5d2a9c7e3f10
Revises: 8c4f2a6e1b93
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "5d2a9c7e3f10"
down_revision: str | Sequence[str] | None = "8c4f2a6e1b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch_op:
        batch_op.add_column(sa.Column("pay_by", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("pay_by_provisional", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_refunds_pay_by", "refunds", ["status", "pay_by"])


def downgrade() -> None:
    op.drop_index("ix_refunds_pay_by", table_name="refunds")
    with op.batch_alter_table("refunds") as batch_op:
        batch_op.drop_column("pay_by_provisional")
        batch_op.drop_column("pay_by")
