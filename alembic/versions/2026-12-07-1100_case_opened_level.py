"""A case's level when it was opened, kept beside its level now: a sweep raises an open case's
level as the institution worsens, and the case page says which is which.

Cases opened before this migration take their level as it stands (the level they were opened
at was not kept).

Revision ID: 5d8a1c3e7f92
Revises: 9b3e6d2f1a70
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d8a1c3e7f92"
down_revision: str | Sequence[str] | None = "9b3e6d2f1a70"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("risk_alerts", sa.Column("opened_level", sa.String(16), nullable=True))
    op.execute("UPDATE risk_alerts SET opened_level = level")


def downgrade() -> None:
    op.execute("ALTER TABLE risk_alerts DROP COLUMN opened_level")
