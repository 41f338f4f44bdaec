"""indexes for reconciling a statement within its day

A statement is matched against the deposits and payments of its own day, read by index:
deposits by (account_no, paid_at), instructions by (bank_id, result_bank_txn_id) and
(account_no, executed_at). Before, reconciliation loaded every deposit and instruction the
account ever had.

Revision ID: 1d7f5a2c8e64
Revises: 9c4e1b7a3d25
Create Date: 2026-12-02 02:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '1d7f5a2c8e64'
down_revision: str | Sequence[str] | None = '9c4e1b7a3d25'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deposits_account_paid", "deposits", ["account_no", "paid_at"])
    op.create_index(
        "ix_instructions_result_txn", "instructions", ["bank_id", "result_bank_txn_id"]
    )
    op.create_index(
        "ix_instructions_account_executed", "instructions", ["account_no", "executed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_instructions_account_executed", table_name="instructions")
    op.drop_index("ix_instructions_result_txn", table_name="instructions")
    op.drop_index("ix_deposits_account_paid", table_name="deposits")
