"""Liability proofs and the public log (issue 36): daily snapshots per institution with their
trees and each parent's salts, the log's entries and perfect-subtree hashes, every signed
checkpoint with its cosignatures, and what each witness last cosigned.

Revision ID: 3b8e61d0c4a7
Revises: 3e8b1f6a2c47
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import Money, UTCDateTime

revision: str = "3b8e61d0c4a7"
down_revision: str | Sequence[str] | None = "3e8b1f6a2c47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proof_snapshots",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("institution_id", sa.String(40), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("root", sa.String(64), nullable=False),
        sa.Column("total", Money(), nullable=False),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("enrollments", sa.Integer(), nullable=False),
        sa.Column("attested_balance", Money(), nullable=True),
        sa.Column("statement_id", sa.String(40), nullable=True),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("tree", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_proof_snapshots_institution_id_institutions"),
        ),
    )
    op.create_index(
        "ix_proof_snapshots_institution", "proof_snapshots", ["institution_id", "day"], unique=True
    )
    op.create_index("ix_proof_snapshots_day", "proof_snapshots", ["day"])
    if op.get_bind().dialect.name == "postgresql":
        # Random hashes do not compress: stored as they are, a slice of the tree (a proof's
        # path) is read from the few chunks that hold it, not from the whole tree.
        op.execute("ALTER TABLE proof_snapshots ALTER COLUMN tree SET STORAGE EXTERNAL")
    op.create_table(
        "proof_parents",
        sa.Column("snapshot_id", sa.String(80), primary_key=True),
        sa.Column("enrollment_id", sa.String(40), primary_key=True),
        sa.Column("index0", sa.Integer(), nullable=False),
        sa.Column("salt0", sa.LargeBinary(), nullable=False),
        sa.Column("amount0", sa.BigInteger(), nullable=False),
        sa.Column("index1", sa.Integer(), nullable=False),
        sa.Column("salt1", sa.LargeBinary(), nullable=False),
        sa.Column("amount1", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "proof_log_entries",
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_proof_log_entries_day", "proof_log_entries", ["kind", "day"])
    op.create_table(
        "proof_log_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "proof_checkpoints",
        sa.Column("size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("cosignatures", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "proof_witnesses",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "proof_witnesses", "proof_checkpoints", "proof_log_nodes", "proof_log_entries",
        "proof_parents", "proof_snapshots",
    ):  # fmt: skip
        op.drop_table(table)
