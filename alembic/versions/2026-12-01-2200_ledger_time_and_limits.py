"""ledger: time never runs backwards in an account; a single transfer refuses overflow

Adds `ledger_accounts.last_at`, the instant of the account's latest entry on either side (its
opening before any), filled from the transfers already written. The ledger records no transfer
earlier than it (docs/ledger.md, "Time"). On PostgreSQL `ledger_transfer_one` is replaced: it
maintains `last_at`, reports `late` when an account already has a later entry (the caller then
takes the general path, which records the transfer at that instant), and refuses an overflow
of NUMERIC(18,2) or a hold born expired instead of failing inside the database.

Revision ID: 4e2a7c9d1b36
Revises: 5b8d1f4c2a60
Create Date: 2026-12-01 22:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '4e2a7c9d1b36'
down_revision: str | Sequence[str] | None = '5b8d1f4c2a60'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the SQL exactly as this migration runs it.
SINGLE_TRANSFER_PG = r"""
CREATE FUNCTION ledger_transfer_one(
  p_debit text, p_credit text, p_posted numeric, p_pending numeric, p_id text, p_tail text,
  p_kind text, p_code text, p_expires timestamptz, p_reference text, p_key text,
  p_content text, p_at timestamptz,
  OUT written boolean, OUT late boolean, OUT ledger text, OUT seq integer, OUT prev text,
  OUT link text)
LANGUAGE plpgsql AS $$
DECLARE
  r ledger_accounts;
  d ledger_accounts;
  c ledger_accounts;
  top constant numeric := 9999999999999999.99;
BEGIN
  FOR r IN SELECT * FROM ledger_accounts a WHERE a.id IN (p_debit, p_credit)
           ORDER BY a.id FOR UPDATE LOOP
    IF r.id = p_debit THEN d := r; ELSE c := r; END IF;
  END LOOP;
  late := d.id IS NOT NULL AND c.id IS NOT NULL AND p_at < greatest(d.last_at, c.last_at);
  written := d.id IS NOT NULL AND c.id IS NOT NULL AND d.ledger = c.ledger
        AND NOT d.closed AND NOT c.closed AND NOT late
        AND (p_expires IS NULL OR p_expires > p_at)
        AND d.debits_posted + p_posted <= top AND d.debits_pending + p_pending <= top
        AND c.credits_posted + p_posted <= top AND c.credits_pending + p_pending <= top
        AND (NOT d.debits_must_not_exceed_credits
             OR d.debits_posted + p_posted + d.debits_pending + p_pending <= d.credits_posted)
        AND (NOT c.credits_must_not_exceed_debits
             OR c.credits_posted + p_posted + c.credits_pending + p_pending <= c.debits_posted)
        AND (p_key IS NULL
             OR NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.idempotency_key = p_key));
  IF NOT written THEN
    RETURN;
  END IF;
  ledger := d.ledger;
  seq := d.last_seq + 1;
  prev := d.last_hash;
  link := encode(sha256(convert_to(concat_ws(E'\x1f', prev, p_id, ledger, (seq)::text, p_tail), 'UTF8')), 'hex');
  UPDATE ledger_accounts a
     SET debits_posted = a.debits_posted + p_posted,
         debits_pending = a.debits_pending + p_pending,
         last_seq = seq, last_hash = link, last_at = p_at
   WHERE a.id = p_debit;
  UPDATE ledger_accounts a
     SET credits_posted = a.credits_posted + p_posted,
         credits_pending = a.credits_pending + p_pending,
         last_at = p_at
   WHERE a.id = p_credit;
  INSERT INTO ledger_transfers (id, ledger, chain_seq, debit_account_id, credit_account_id,
      amount, kind, code, pending_id, expires_at, reference, idempotency_key, content_hash,
      created_at, prev_hash, hash)
  VALUES (p_id, ledger, seq, p_debit, p_credit, p_posted + p_pending, p_kind, p_code, NULL,
          p_expires, p_reference, p_key, p_content, p_at, prev, link);
END;
$$;
"""

# What downgrade() puts back: the function as revision 7c1f3e2a9b54 made it.
PREVIOUS_SINGLE_TRANSFER_PG = r"""
CREATE OR REPLACE FUNCTION ledger_transfer_one(
  p_debit text, p_credit text, p_posted numeric, p_pending numeric, p_id text, p_tail text,
  p_kind text, p_code text, p_expires timestamptz, p_reference text, p_key text,
  p_content text, p_at timestamptz,
  OUT written boolean, OUT ledger text, OUT seq integer, OUT prev text, OUT link text)
LANGUAGE plpgsql AS $$
DECLARE
  r ledger_accounts;
  d ledger_accounts;
  c ledger_accounts;
BEGIN
  FOR r IN SELECT * FROM ledger_accounts a WHERE a.id IN (p_debit, p_credit)
           ORDER BY a.id FOR UPDATE LOOP
    IF r.id = p_debit THEN d := r; ELSE c := r; END IF;
  END LOOP;
  written := d.id IS NOT NULL AND c.id IS NOT NULL AND d.ledger = c.ledger
        AND NOT d.closed AND NOT c.closed
        AND (NOT d.debits_must_not_exceed_credits
             OR d.debits_posted + p_posted + d.debits_pending + p_pending <= d.credits_posted)
        AND (NOT c.credits_must_not_exceed_debits
             OR c.credits_posted + p_posted + c.credits_pending + p_pending <= c.debits_posted)
        AND (p_key IS NULL
             OR NOT EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.idempotency_key = p_key));
  IF NOT written THEN
    RETURN;
  END IF;
  ledger := d.ledger;
  seq := d.last_seq + 1;
  prev := d.last_hash;
  link := encode(sha256(convert_to(concat_ws(E'\x1f', prev, p_id, ledger, (seq)::text, p_tail), 'UTF8')), 'hex');
  UPDATE ledger_accounts a
     SET debits_posted = a.debits_posted + p_posted,
         debits_pending = a.debits_pending + p_pending,
         last_seq = seq, last_hash = link
   WHERE a.id = p_debit;
  UPDATE ledger_accounts a
     SET credits_posted = a.credits_posted + p_posted,
         credits_pending = a.credits_pending + p_pending
   WHERE a.id = p_credit;
  INSERT INTO ledger_transfers (id, ledger, chain_seq, debit_account_id, credit_account_id,
      amount, kind, code, pending_id, expires_at, reference, idempotency_key, content_hash,
      created_at, prev_hash, hash)
  VALUES (p_id, ledger, seq, p_debit, p_credit, p_posted + p_pending, p_kind, p_code, NULL,
          p_expires, p_reference, p_key, p_content, p_at, prev, link);
END;
$$;
"""

# SQLite's batch mode rebuilds the table, which drops its triggers: put this one back.
ACCOUNTS_KEPT_SQLITE = r"""CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
   BEGIN SELECT RAISE(ABORT, 'ledger_accounts are never deleted: close the account instead'); END"""

_OLD_SIGNATURE = (
    "ledger_transfer_one(text, text, numeric, numeric, text, text, text, text, timestamptz, "
    "text, text, text, timestamptz)"
)

_BACKFILL = """
UPDATE ledger_accounts SET last_at = {greatest}(created_at, coalesce(
  (SELECT max(t.created_at) FROM ledger_transfers t WHERE t.debit_account_id = ledger_accounts.id),
  created_at), coalesce(
  (SELECT max(t.created_at) FROM ledger_transfers t WHERE t.credit_account_id = ledger_accounts.id),
  created_at))
"""


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "ledger_accounts", sa.Column("last_at", ledger.types.UTCDateTime(), nullable=True)
    )
    op.execute(_BACKFILL.format(greatest="greatest" if postgresql else "max"))
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.alter_column("last_at", existing_type=ledger.types.UTCDateTime(), nullable=False)
    if postgresql:
        op.execute(f"DROP FUNCTION {_OLD_SIGNATURE}")
        op.execute(SINGLE_TRANSFER_PG)
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_delete")
        op.execute(ACCOUNTS_KEPT_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_OLD_SIGNATURE}")
        op.execute(PREVIOUS_SINGLE_TRANSFER_PG)
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_column("last_at")
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_delete")
        op.execute(ACCOUNTS_KEPT_SQLITE)
