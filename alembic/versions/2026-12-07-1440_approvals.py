"""Four-eyes approvals: an action a region's rule pack lists, asked by one person and waiting
for a supervisor of the same office or of one above to approve or reject it (issue 32).

Revision ID: 3e8b6d1f4a72
Revises: 5e2b8c1d7f30
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "3e8b6d1f4a72"
down_revision: str | Sequence[str] | None = "5e2b8c1d7f30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("target", sa.String(80), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("office_id", sa.String(40), nullable=False),
        sa.Column("office_region_code", sa.String(6), nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["office_id"], ["regulators.id"], name=op.f("fk_approvals_office_id_regulators")
        ),
    )
    op.create_index("ix_approvals_region_code", "approvals", ["region_code"])
    op.create_index("ix_approvals_office_id", "approvals", ["office_id"])
    op.create_index("ix_approvals_status_expires_at", "approvals", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("approvals")
