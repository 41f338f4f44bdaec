"""What a deposit batch writes per row, less: `ledger_accounts` keeps half of each page free
(fillfactor 50, was 70), and enrollments lose `ix_enrollments_institution_id`.

A batch pays a thousand parents' accounts that were opened one after another and so share
pages, about twenty to a page at fillfactor 70: the room kept took eight or nine new row
versions a page, so about half of a batch's account updates were HOT and the rest wrote all
four account indexes. At 50 every account on a page can change once in one transaction
beside its old version: in process at 26,000 enrollments, 1,020 of 1,020 account updates a
batch HOT (501 before), the accounts statement 13,577 -> 6,188 buffers and 536 -> 176 kB of
WAL. Only pages written from now on keep the new room (PostgreSQL only; SQLite has no HOT).

`ix_enrollments_consumer` (institution_id, student_ref) leads with institution_id and serves
every read by institution; each index on enrollments is written again by every update that
cannot be HOT (a deposit's sets `paid_at`, which `ix_enrollments_paid` holds), a thousand in a
batch, and by every enrollment made. (`ix_deposits_institution_id` went for the same reason.)

Revision ID: 5e2a9c7d4b18
Revises: 4b8e1f6a2d95
Create Date: 2026-12-07 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5e2a9c7d4b18"
down_revision: str | Sequence[str] | None = "4b8e1f6a2d95"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 50)")
    op.drop_index("ix_enrollments_institution_id", table_name="enrollments")


def downgrade() -> None:
    op.create_index("ix_enrollments_institution_id", "enrollments", ["institution_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_accounts SET (fillfactor = 70)")
