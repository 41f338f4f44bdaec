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
    op.add_column("institutions", sa.Column("sponsor", sa.String(200), nullable=True))
    op.create_index("ix_institutions_sponsor", "institutions", ["sponsor"])


def downgrade() -> None:
    op.drop_index("ix_institutions_sponsor", table_name="institutions")
    # Plain DROP COLUMN (SQLite 3.35+): a batch would rebuild `institutions` and lose its
    # triggers (institutions_no_delete), which an earlier migration's downgrade then drops.
    op.execute("ALTER TABLE institutions DROP COLUMN sponsor")
