"""People, not tokens (issue 32): the officer who claimed a case; an officer's sign-out
everywhere and password change (sessions opened before end); per-officer API tokens; TOTP
enrolment and single-use recovery codes; an institution's several named API keys.

Revision ID: 3e8b1f6a2c47
Revises: 7a1c5e3b9d20
Create Date: 2026-12-07 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "3e8b1f6a2c47"
down_revision: str | Sequence[str] | None = "7a1c5e3b9d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("risk_alerts", sa.Column("assignee_officer_id", sa.String(40), nullable=True))
    op.add_column("officers", sa.Column("sessions_ended_at", UTCDateTime(), nullable=True))
    op.add_column("officers", sa.Column("password_changed_at", UTCDateTime(), nullable=True))
    op.add_column("officers", sa.Column("totp_pending_ciphertext", sa.Text(), nullable=True))
    op.create_table(
        "officer_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("officer_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_officer_tokens_officer_id_officers")
        ),
        sa.UniqueConstraint("token_hash", name=op.f("uq_officer_tokens_token_hash")),
    )
    op.create_index("ix_officer_tokens_officer_id", "officer_tokens", ["officer_id"])
    op.create_table(
        "officer_recovery_codes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("officer_id", sa.String(40), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"],
            name=op.f("fk_officer_recovery_codes_officer_id_officers"),
        ),
    )
    op.create_index(
        "ix_officer_recovery_codes_officer_id", "officer_recovery_codes", ["officer_id"]
    )
    op.create_table(
        "institution_keys",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("institution_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"], ["institutions.id"],
            name=op.f("fk_institution_keys_institution_id_institutions"),
        ),
        sa.UniqueConstraint("key_hash", name=op.f("uq_institution_keys_key_hash")),
    )
    op.create_index("ix_institution_keys_institution_id", "institution_keys", ["institution_id"])
    # Each institution's one key so far becomes its first named key: nothing stops working.
    op.execute(
        "INSERT INTO institution_keys (id, institution_id, name, key_hash, created_at) "
        "SELECT 'key_' || substr(id, 6), id, 'first key', api_key_hash, created_at FROM institutions"
    )


def downgrade() -> None:
    op.drop_table("institution_keys")
    op.drop_table("officer_recovery_codes")
    op.drop_table("officer_tokens")
    op.execute("ALTER TABLE officers DROP COLUMN totp_pending_ciphertext")
    op.execute("ALTER TABLE officers DROP COLUMN password_changed_at")
    op.execute("ALTER TABLE officers DROP COLUMN sessions_ended_at")
    op.execute("ALTER TABLE risk_alerts DROP COLUMN assignee_officer_id")
