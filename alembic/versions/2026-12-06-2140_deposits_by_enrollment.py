"""An enrollment's deposits by index: a refund names the payments it returns (in the order
received), and without the index that read went through every deposit ever received.

Revision ID: 7c41e9a0b2d5
Revises: e57d1f926c4a
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "7c41e9a0b2d5"
down_revision: str | Sequence[str] | None = "e57d1f926c4a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deposits_enrollment", "deposits", ["enrollment_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_deposits_enrollment", table_name="deposits")
