"""A bank's previous secret, valid until the end of a rotation's overlap.

Revision ID: 3c7e9a1d5f20
Revises: 8b3e5d7f1a92
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "3c7e9a1d5f20"
down_revision: str | Sequence[str] | None = "8b3e5d7f1a92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("banks", sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True))
    op.add_column("banks", sa.Column("previous_secret_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `banks` and lose its triggers.
    op.execute("ALTER TABLE banks DROP COLUMN previous_secret_until")
    op.execute("ALTER TABLE banks DROP COLUMN previous_secret_ciphertext")
