"""The lists a regulator keeps that a pack's entry gate refuses prepaid sales on (Siping's 2025
draft: the dishonest debtors, the abnormal operations): one row per time an institution is put
on a list, closed when it comes off.

Revision ID: 7a1e4b9d2c65
Revises: 5d2a9c7e3f10
Create Date: 2026-12-07 17:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "7a1e4b9d2c65"
down_revision: str | Sequence[str] | None = "5d2a9c7e3f10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_list_entries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("list_name", sa.String(32), nullable=False),
        sa.Column("institution_id", sa.String(40), sa.ForeignKey("institutions.id"),
                  nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("listed_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("listed_by", sa.String(80), nullable=False),
        sa.Column("removed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(80), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
    )  # fmt: skip
    op.create_index("ix_credit_list_entries_institution", "credit_list_entries",
                    ["institution_id", "list_name"])  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_credit_list_entries_institution", table_name="credit_list_entries")
    op.drop_table("credit_list_entries")
