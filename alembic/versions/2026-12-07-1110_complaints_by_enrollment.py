"""An enrollment's complaints by index: each complaint counts the enrollment's complaints of the
day and of its category (issue 31, finding 2), a read that otherwise went through them all.

Revision ID: 3e8c51a0d7b4
Revises: 5d8a1c3e7f92
Create Date: 2026-12-07 11:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "3e8c51a0d7b4"
down_revision: str | Sequence[str] | None = "5d8a1c3e7f92"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_complaints_enrollment", "complaints", ["enrollment_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_complaints_enrollment", table_name="complaints")
