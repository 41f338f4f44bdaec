"""Account balance changes as HOT updates: ix_ledger_accounts_kind no longer carries the
posted balances (PostgreSQL's INCLUDE columns).

An UPDATE can be HOT (the new row version written beside the old one, no index touched) only
if no indexed column changes. The balances in that index's INCLUDE made every transfer's two
account updates write all four of the table's indexes (measured: 0 of 8,000 updates HOT),
which the fillfactor of 70 set for them in 2026-11-23-0110 was meant to avoid. Nothing read
the balances from the index: `kind_accounts` needs `owner` too, which it never held, so its
reads went to the table anyway.

Revision ID: 9b3e6d2f1a70
Revises: 7c41e9a0b2d5
Create Date: 2026-12-07 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "9b3e6d2f1a70"
down_revision: str | Sequence[str] | None = "7c41e9a0b2d5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's index never had the INCLUDE
    op.drop_index("ix_ledger_accounts_kind", table_name="ledger_accounts")
    op.create_index("ix_ledger_accounts_kind", "ledger_accounts", ["kind", "ledger"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_ledger_accounts_kind", table_name="ledger_accounts")
    op.create_index(
        "ix_ledger_accounts_kind",
        "ledger_accounts",
        ["kind", "ledger"],
        postgresql_include=["debits_posted", "credits_posted"],
    )
