"""A lesson's confirmation window and a refund's answer deadline say whether they were counted
over a year whose holiday arrangement is not yet published (issue 33: provisional wherever
shown). Earlier rows were counted in calendar days: never provisional.

Revision ID: 8c4f2a6e1b93
Revises: 3e8b6d1f4a72
Create Date: 2026-12-07 14:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8c4f2a6e1b93"
down_revision: str | Sequence[str] | None = "3e8b6d1f4a72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consumptions") as batch_op:
        batch_op.add_column(
            sa.Column(
                "confirm_until_provisional", sa.Boolean(), nullable=False,
                server_default=sa.false(),
            )
        )  # fmt: skip
    with op.batch_alter_table("refunds") as batch_op:
        batch_op.add_column(
            sa.Column(
                "respond_by_provisional", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds") as batch_op:
        batch_op.drop_column("respond_by_provisional")
    with op.batch_alter_table("consumptions") as batch_op:
        batch_op.drop_column("confirm_until_provisional")
