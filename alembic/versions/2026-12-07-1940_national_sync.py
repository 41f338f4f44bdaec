"""The national database's record of how it follows each province (issue 37): a province
resynchronising after its leader changed is shown as such (service.national.follow).

Revision ID: 8c4f2a6e1d37
Revises: 6a1c9e3f7b25
Create Date: 2026-12-07 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "8c4f2a6e1d37"
down_revision: str | Sequence[str] | None = "6a1c9e3f7b25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = ledger.types.UTCDateTime(timezone=True)
    op.create_table(
        "national_sync",
        sa.Column("province", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("since", when, nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("system_id", sa.String(length=20), nullable=False),
        sa.Column("timeline", sa.Integer(), nullable=False),
        sa.Column("last_as_of", when, nullable=True),
        sa.PrimaryKeyConstraint("province", name=op.f("pk_national_sync")),
    )


def downgrade() -> None:
    op.drop_table("national_sync")
