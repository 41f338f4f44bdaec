"""A price guide replaced for its day is kept, marked superseded (by whom, when); one guide
in force per region and day (a partial unique index).

Before, a second guide for a region and day could be written beside the first (the API) and
which one priced a course depended on the database's row order; the CSV import could not
replace one at all. Existing twins are settled as the rule engine will read them from now on:
the newest written stands, the others are superseded by it.

Revision ID: b3e8f1c2d4a6
Revises: 3e8c51a0d7b4
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "b3e8f1c2d4a6"
down_revision: str | Sequence[str] | None = "3e8c51a0d7b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "superseded_by IS NULL"


def upgrade() -> None:
    op.add_column("price_guides", sa.Column("superseded_by", sa.String(40), nullable=True))
    op.add_column(
        "price_guides",
        sa.Column("superseded_at", ledger.types.UTCDateTime(timezone=True), nullable=True),
    )
    _settle_twins()
    op.create_index(
        "uq_price_guides_current",
        "price_guides",
        ["region_code", "effective_from"],
        unique=True,
        postgresql_where=sa.text(CURRENT),
        sqlite_where=sa.text(CURRENT),
    )


def _settle_twins() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, region_code, effective_from, created_at FROM price_guides "
            "ORDER BY region_code, effective_from, created_at DESC, id DESC"
        )
    ).all()
    newest: dict[tuple[str, object], tuple[str, object]] = {}
    for gid, region, day, created in rows:
        kept = newest.setdefault((region, day), (gid, created))
        if kept[0] != gid:
            conn.execute(
                sa.text(
                    "UPDATE price_guides SET superseded_by = :by, superseded_at = :at "
                    "WHERE id = :id"
                ),
                {"by": kept[0], "at": kept[1], "id": gid},
            )


def downgrade() -> None:
    op.drop_index("uq_price_guides_current", table_name="price_guides")
    op.execute("ALTER TABLE price_guides DROP COLUMN superseded_at")
    op.execute("ALTER TABLE price_guides DROP COLUMN superseded_by")
