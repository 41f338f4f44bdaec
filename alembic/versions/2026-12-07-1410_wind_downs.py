"""Wind-downs (issue 34): an institution being wound up, its parents' claims, the rounds that
pay them and each round's payments.

Revision ID: 5d2b8e1f4a60
Revises: 3b8e61d0c4a7
Create Date: 2026-12-07 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "5d2b8e1f4a60"
down_revision: str | Sequence[str] | None = "3b8e61d0c4a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wind_downs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("institution_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("effective_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("payment_reference", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("opened_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=80), nullable=False),
        sa.Column("shortfall", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_wind_downs_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wind_downs")),
        sa.UniqueConstraint("institution_id", name=op.f("uq_wind_downs_institution_id")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_wind_downs_payment_reference")),
    )
    op.create_table(
        "wind_down_rounds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("wind_down_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("reissued", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["wind_down_id"],
            ["wind_downs.id"],
            name=op.f("fk_wind_down_rounds_wind_down_id_wind_downs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wind_down_rounds")),
        sa.UniqueConstraint("wind_down_id", "seq", name="uq_wind_down_rounds_seq"),
    )
    with op.batch_alter_table("wind_down_rounds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wind_down_rounds_wind_down_id"), ["wind_down_id"], unique=False
        )

    op.create_table(
        "wind_down_claims",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("wind_down_id", sa.String(length=40), nullable=False),
        sa.Column("enrollment_id", sa.String(length=40), nullable=False),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("allocated", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("paid", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("in_flight", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("held", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payee_account_no", sa.String(length=64), nullable=True),
        sa.Column("successor_institution_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_wind_down_claims_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(
            ["wind_down_id"],
            ["wind_downs.id"],
            name=op.f("fk_wind_down_claims_wind_down_id_wind_downs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wind_down_claims")),
        sa.UniqueConstraint("enrollment_id", name=op.f("uq_wind_down_claims_enrollment_id")),
    )
    with op.batch_alter_table("wind_down_claims", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wind_down_claims_wind_down_id"), ["wind_down_id"], unique=False
        )

    op.create_table(
        "wind_down_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("round_id", sa.String(length=40), nullable=False),
        sa.Column("claim_id", sa.String(length=40), nullable=False),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("instruction_id", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", ledger.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["wind_down_claims.id"],
            name=op.f("fk_wind_down_payments_claim_id_wind_down_claims"),
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["wind_down_rounds.id"],
            name=op.f("fk_wind_down_payments_round_id_wind_down_rounds"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wind_down_payments")),
        sa.UniqueConstraint("instruction_id", name=op.f("uq_wind_down_payments_instruction_id")),
        sa.UniqueConstraint("round_id", "claim_id", "source", name="uq_wind_down_payments_part"),
    )
    with op.batch_alter_table("wind_down_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wind_down_payments_claim_id"), ["claim_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_wind_down_payments_round_id"), ["round_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("wind_down_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wind_down_payments_round_id"))
        batch_op.drop_index(batch_op.f("ix_wind_down_payments_claim_id"))

    op.drop_table("wind_down_payments")
    with op.batch_alter_table("wind_down_claims", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wind_down_claims_wind_down_id"))

    op.drop_table("wind_down_claims")
    with op.batch_alter_table("wind_down_rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wind_down_rounds_wind_down_id"))

    op.drop_table("wind_down_rounds")
    op.drop_table("wind_downs")
