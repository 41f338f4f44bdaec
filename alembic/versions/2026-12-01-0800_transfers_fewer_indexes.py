"""ledger transfers: two indexes fewer

Every index on `ledger_transfers` is paid on every transfer written, inside the lock that
serialises an institution's writers (a bank's batch of 1,000 deposits spent most of its COPY
of transfers maintaining seven indexes). Two of them served nothing:
`ix_ledger_transfers_reference` was read by no query, and `ix_ledger_transfers_debit`
(debit_account_id, created_at) repeats the leading column of the unique chain index
(debit_account_id, chain_seq), which serves every lookup by debit account.

Revision ID: 5b8d1f4c2a60
Revises: 9a4c2e7d5b13
Create Date: 2026-12-01 08:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '5b8d1f4c2a60'
down_revision: str | Sequence[str] | None = '9a4c2e7d5b13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_ledger_transfers_reference', table_name='ledger_transfers')
    op.drop_index('ix_ledger_transfers_debit', table_name='ledger_transfers')


def downgrade() -> None:
    op.create_index(
        'ix_ledger_transfers_debit', 'ledger_transfers', ['debit_account_id', 'created_at']
    )
    op.create_index('ix_ledger_transfers_reference', 'ledger_transfers', ['reference'])
