"""A successor's enrollment of a transferred claim under a pack that caps what one consumer
holds is marked `member_to_name`: it carries the failed institution's reference for the
consumer, and the successor names the member it is (its own reference) before it reports a
lesson on it, so a member it already knew is not counted apart (docs/rules.md, "The
per-consumer cap"). Every enrollment made before: false.

Revision ID: 8a1d6f3b2c57
Revises: 3c7e5a1f9d24
Create Date: 2026-12-08 01:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "8a1d6f3b2c57"
down_revision: str | Sequence[str] | None = "3c7e5a1f9d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no table is rebuilt (SQLite keeps its triggers).
    op.add_column(
        "enrollments",
        sa.Column("member_to_name", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `enrollments` and lose its
    # triggers.
    op.execute("ALTER TABLE enrollments DROP COLUMN member_to_name")
