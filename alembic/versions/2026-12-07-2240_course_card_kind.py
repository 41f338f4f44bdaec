"""A course's kind of prepaid card (sessions, membership, stored_value): a gym's membership and
stored-value cards are held to the pack's caps of their kind at filing (docs/rules.md). Empty
for every course filed before: a card of sessions, as they were judged.

Revision ID: 7e2b4d9c1a63
Revises: 3d7e9b1c5a20
Create Date: 2026-12-07 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "7e2b4d9c1a63"
down_revision: str | Sequence[str] | None = "3d7e9b1c5a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("card_kind", sa.String(16), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `courses` and lose its
    # triggers, which an earlier migration's downgrade then drops (and fails to find).
    op.execute("ALTER TABLE courses DROP COLUMN card_kind")
