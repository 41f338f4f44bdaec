"""deposit intake: no redundant deposits index; room on account pages for in-place updates

`ix_deposits_institution_id` duplicated the leading column of `ix_deposits_status`
(institution_id, status, received_at), which serves every query it served; each deposit paid
for both. On PostgreSQL, `ledger_accounts` keeps 30% of each page free (fillfactor 70), so a
balance change can be written beside the old row version without touching the indexes (a
HOT update: no indexed column changes): a bank's batch of 1,000 deposits updates 1,000
prepaid accounts. Pages written before this migration get the room when the table is next
rewritten (`VACUUM FULL ledger_accounts`).

Revision ID: 3d5e8b1c0f27
Revises: 7c1f3e2a9b54
Create Date: 2026-11-23 01:10:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '3d5e8b1c0f27'
down_revision: str | Sequence[str] | None = '7c1f3e2a9b54'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_index('ix_deposits_institution_id')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts RESET (fillfactor)")
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.create_index('ix_deposits_institution_id', ['institution_id'], unique=False)
