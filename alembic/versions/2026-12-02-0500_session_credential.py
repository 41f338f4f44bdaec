"""a workbench session ends with the credential it was opened with

page_sessions.credential_hash: the regulator's token hash at sign-in. When the token is
re-issued (rotated, or revoked by issuing another), every session opened with the old one
ends at its next request.

Revision ID: 3c8f2a6e9d41
Revises: 7b3e9d1c5a28
Create Date: 2026-12-02 05:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3c8f2a6e9d41'
down_revision: str | Sequence[str] | None = '7b3e9d1c5a28'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Sessions opened before this column are ended (an empty hash matches no credential).
    with op.batch_alter_table("page_sessions") as batch:
        batch.add_column(
            sa.Column("credential_hash", sa.String(64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("page_sessions") as batch:
        batch.drop_column("credential_hash")
