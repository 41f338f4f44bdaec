"""Lessons not yet released, by the end of their window: a partial index for the release run.

The run read each institution's lessons through (institution, confirm_until), whose range up to
`as_of` holds every lesson ever released: a cost that grew every day the service ran.

Revision ID: 4b8d2f6a1c93
Revises: 3c7e9a1d5f20
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b8d2f6a1c93"
down_revision: str | Sequence[str] | None = "3c7e9a1d5f20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRELEASED = "release_instruction_id IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_consumptions_unreleased",
        "consumptions",
        ["confirm_until"],
        postgresql_where=sa.text(UNRELEASED),
        sqlite_where=sa.text(UNRELEASED),
    )


def downgrade() -> None:
    op.drop_index("ix_consumptions_unreleased", table_name="consumptions")
