"""Successor schools (issue 34): a regulator offers a wind-down's parents a willing
institution; each offer is accepted (the claim's money moves to the successor's escrow by one
bank instruction, `kind: transfer`), declined, or lapses at its deadline. A claim records the
money transferred for it.

Revision ID: 6a1c9e3f7b25
Revises: 5d7a3c9e2f18
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "6a1c9e3f7b25"
down_revision: str | Sequence[str] | None = "5d7a3c9e2f18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wind_down_claims") as batch_op:
        batch_op.add_column(
            sa.Column(
                "transferred", ledger.types.Money(precision=18, scale=2), nullable=False,
                server_default=sa.text("0"),
            )
        )  # fmt: skip
    op.create_table(
        "successor_offers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("wind_down_id", sa.String(length=40), nullable=False),
        sa.Column("claim_id", sa.String(length=40), nullable=False),
        sa.Column("successor_institution_id", sa.String(length=40), nullable=False),
        sa.Column("course_id", sa.String(length=40), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("offered_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offered_by", sa.String(length=80), nullable=False),
        sa.Column("expires_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", ledger.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=True),
        sa.Column("share", ledger.types.Money(precision=18, scale=2), nullable=True),
        sa.Column("instruction_id", sa.String(length=40), nullable=True),
        sa.Column("successor_enrollment_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["wind_down_id"], ["wind_downs.id"],
            name=op.f("fk_successor_offers_wind_down_id_wind_downs"),
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["claim_id"], ["wind_down_claims.id"],
            name=op.f("fk_successor_offers_claim_id_wind_down_claims"),
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["successor_institution_id"], ["institutions.id"],
            name=op.f("fk_successor_offers_successor_institution_id_institutions"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_successor_offers")),
        sa.UniqueConstraint("instruction_id", name=op.f("uq_successor_offers_instruction_id")),
    )
    with op.batch_alter_table("successor_offers") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_successor_offers_wind_down_id"), ["wind_down_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_successor_offers_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("successor_offers") as batch_op:
        batch_op.drop_index(batch_op.f("ix_successor_offers_claim_id"))
        batch_op.drop_index(batch_op.f("ix_successor_offers_wind_down_id"))
    op.drop_table("successor_offers")
    with op.batch_alter_table("wind_down_claims") as batch_op:
        batch_op.drop_column("transferred")
