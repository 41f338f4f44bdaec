"""each account's latest statement kept beside the history; indexes the workbench reads by

- latest_statements: one row per supervised account, its latest statement (by bank day, then
  arrival), kept by reconciliation and filled here from the statements so far. Lists and
  overviews of 10,000 institutions read it instead of searching a year of statements each
  (measured: 230 ms of an overview at 10,000 institutions with daily statements).
- ix_ledger_accounts_kind (kind, ledger; PostgreSQL includes the posted balances): every
  institution's escrow, earned, suspense and reserve, without the accounts of other kinds.
- ix_consumptions_disputed: the lessons under dispute, for the queues.

Revision ID: 6d1a4f8b2e57
Revises: 3c8f2a6e9d41
Create Date: 2026-12-02 06:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '6d1a4f8b2e57'
down_revision: str | Sequence[str] | None = '3c8f2a6e9d41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO latest_statements (account_no, institution_id, statement_id, statement_date,
                               closing_balance, received_at)
SELECT s.account_no, s.institution_id, s.id, s.statement_date, s.closing_balance, s.received_at
FROM statements s
WHERE NOT EXISTS (
  SELECT 1 FROM statements t
  WHERE t.account_no = s.account_no
    AND (t.statement_date > s.statement_date
         OR (t.statement_date = s.statement_date
             AND (t.received_at > s.received_at
                  OR (t.received_at = s.received_at AND t.id > s.id)))))
"""


def upgrade() -> None:
    op.create_table(
        "latest_statements",
        sa.Column("account_no", sa.String(64), primary_key=True),
        sa.Column("institution_id", sa.String(40), sa.ForeignKey("institutions.id"),
                  nullable=False),  # fmt: skip
        sa.Column("statement_id", sa.String(40), sa.ForeignKey("statements.id"),
                  nullable=False),  # fmt: skip
        sa.Column("statement_date", sa.String(10), nullable=False),
        sa.Column("closing_balance", ledger.types.Money(), nullable=False),
        sa.Column("received_at", ledger.types.UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_latest_statements_institution_id", "latest_statements", ["institution_id"]
    )
    op.execute(BACKFILL)
    op.create_index(
        "ix_ledger_accounts_kind", "ledger_accounts", ["kind", "ledger"],
        postgresql_include=["debits_posted", "credits_posted"],
    )  # fmt: skip
    op.create_index(
        "ix_consumptions_disputed", "consumptions", ["institution_id"],
        postgresql_where=sa.text("status = 'disputed'"),
        sqlite_where=sa.text("status = 'disputed'"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_consumptions_disputed", table_name="consumptions")
    op.drop_index("ix_ledger_accounts_kind", table_name="ledger_accounts")
    op.drop_index("ix_latest_statements_institution_id", table_name="latest_statements")
    op.drop_table("latest_statements")
