"""Officers: the people of an office, each with a role, a password (Argon2id) and a TOTP
second factor; their bearer sessions; the officer on a workbench session and on each audit
record (issue 32).

Revision ID: 7a1c5e3b9d20
Revises: 4c7d2e9f1b08
Create Date: 2026-12-07 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "7a1c5e3b9d20"
down_revision: str | Sequence[str] | None = "4c7d2e9f1b08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "officers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("regulator_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("totp_secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["regulator_id"], ["regulators.id"], name=op.f("fk_officers_regulator_id_regulators")
        ),
        sa.UniqueConstraint("username", name=op.f("uq_officers_username")),
    )
    op.create_index("ix_officers_regulator_id", "officers", ["regulator_id"])
    op.create_table(
        "officer_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("officer_id", sa.String(40), nullable=False),
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officers.id"], name=op.f("fk_officer_sessions_officer_id_officers")
        ),
    )
    op.create_index("ix_officer_sessions_officer_id", "officer_sessions", ["officer_id"])
    op.create_index("ix_officer_sessions_expires_at", "officer_sessions", ["expires_at"])
    op.add_column("page_sessions", sa.Column("officer_id", sa.String(40), nullable=True))
    op.add_column("audit_events", sa.Column("officer_id", sa.String(40), nullable=True))
    op.create_index("ix_audit_events_officer_id", "audit_events", ["officer_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_officer_id", "audit_events")
    op.execute("ALTER TABLE audit_events DROP COLUMN officer_id")
    op.execute("ALTER TABLE page_sessions DROP COLUMN officer_id")
    op.drop_table("officer_sessions")
    op.drop_table("officers")
