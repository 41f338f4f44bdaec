"""district totals wider than one account

A district's escrow, bank balance and amount owed sum many accounts, each of which the ledger
bounds at NUMERIC(18,2): the sum can exceed that bound, and a sweep that could not store its
district's day would fail for every institution. NUMERIC(24,2) on PostgreSQL; SQLite keeps
its integer fen.

Revision ID: 7b3e9d1c5a28
Revises: 5e8b2d4f6a19
Create Date: 2026-12-02 04:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7b3e9d1c5a28'
down_revision: str | Sequence[str] | None = '5e8b2d4f6a19'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("escrow", "bank_balance", "owed")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.alter_column("district_days", column, type_=sa.Numeric(24, 2),
                        existing_type=sa.Numeric(18, 2), existing_nullable=False)  # fmt: skip


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.alter_column("district_days", column, type_=sa.Numeric(18, 2),
                        existing_type=sa.Numeric(24, 2), existing_nullable=False)  # fmt: skip
