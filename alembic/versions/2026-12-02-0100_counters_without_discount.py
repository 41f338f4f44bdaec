"""institution_days: no enrollments_discounted

Whether an enrollment was paid at a deep discount depends on the region's `price_share` knob,
which a regulator may set; counting it at payment time with a fixed share froze the default
into the rollups (the knob did nothing). The sweep now counts it from the enrollments paid in
the indicator's window, with the region's share.

Revision ID: 9c4e1b7a3d25
Revises: 6a9e3c7b2f48
Create Date: 2026-12-02 01:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9c4e1b7a3d25'
down_revision: str | Sequence[str] | None = '6a9e3c7b2f48'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("institution_days", schema=None) as batch_op:
        batch_op.drop_column("enrollments_discounted")


def downgrade() -> None:
    op.add_column(
        "institution_days",
        sa.Column("enrollments_discounted", sa.Integer(), server_default="0", nullable=False),
    )
