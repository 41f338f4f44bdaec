"""login_throttles: locked_until

Access-code guessing is throttled per client and enrollment with exponential backoff (and per
client overall), never per enrollment alone, so a third party cannot lock the real parent out;
each throttle row says until when it refuses.

Revision ID: 6a9e3c7b2f48
Revises: 2f6c1a8e5d93
Create Date: 2026-12-01 23:20:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '6a9e3c7b2f48'
down_revision: str | Sequence[str] | None = '2f6c1a8e5d93'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "login_throttles", sa.Column("locked_until", ledger.types.UTCDateTime(), nullable=True)
    )
    # Rows keyed by enrollment alone belong to the throttle that let anyone lock a parent out.
    op.execute("DELETE FROM login_throttles WHERE key LIKE 'enrollment:%'")


def downgrade() -> None:
    with op.batch_alter_table("login_throttles", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
