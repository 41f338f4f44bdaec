"""idempotency_records: claim and lease

A request's claim on its `Idempotency-Key` is a lease, renewed while the request runs: a claim
left by a request whose process died lapses within the lease and the key's next request runs,
instead of answering `idempotency_in_progress` until the key is purged.

Revision ID: 2f6c1a8e5d93
Revises: 8d3b6f2e4a17
Create Date: 2026-12-01 23:10:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '2f6c1a8e5d93'
down_revision: str | Sequence[str] | None = '8d3b6f2e4a17'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("idempotency_records", sa.Column("claim", sa.String(32), nullable=True))
    op.add_column(
        "idempotency_records",
        sa.Column("locked_until", ledger.types.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("claim")
