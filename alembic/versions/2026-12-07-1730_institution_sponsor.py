"""An institution's sponsor (举办者): the organisation that runs it. The campuses of one chain
share it, and the risk engine reads a sibling's failure as evidence at the others (issue 35).
Optional: an institution registered without one is judged alone.

Revision ID: 5d7a3c9e2f18
Revises: 5d2e9a7c4b18
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d7a3c9e2f18"
down_revision: str | Sequence[str] | None = "5d2e9a7c4b18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("institutions") as batch_op:
        batch_op.add_column(sa.Column("sponsor", sa.String(200), nullable=True))
        batch_op.create_index("ix_institutions_sponsor", ["sponsor"])


def downgrade() -> None:
    with op.batch_alter_table("institutions") as batch_op:
        batch_op.drop_index("ix_institutions_sponsor")
        batch_op.drop_column("sponsor")
