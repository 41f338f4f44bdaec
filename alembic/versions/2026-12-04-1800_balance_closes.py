"""ledger: each account's figures closed at the end of each day it had entries

Adds `ledger_balance_closes` (append-only, as the transfers are): what an account stood at
after the last entry of each Beijing day it had entries, written by its first entry of a later
day. A balance at a past instant is then a close plus at most a day's entries, instead of a sum
of the account's whole history (`ledger.balances`); `verify` recomputes every close. The closes
of the history already written are filled here from the transfers. On PostgreSQL
`ledger_transfer_one` is replaced by one that writes the closes.

Revision ID: 8b3e5d7f1a92
Revises: 6d1a4f8b2e57
Create Date: 2026-12-04 18:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '8b3e5d7f1a92'
down_revision: str | Sequence[str] | None = '6d1a4f8b2e57'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the SQL exactly as this migration runs it.
SINGLE_TRANSFER_PG = r"""
CREATE OR REPLACE FUNCTION ledger_transfer_one(
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
  day timestamptz;
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
  day := (date_trunc('day', (p_at AT TIME ZONE 'UTC') + interval '8 hours') - interval '8 hours') AT TIME ZONE 'UTC';
  IF d.last_at < day THEN
    INSERT INTO ledger_balance_closes VALUES (d.id, d.last_at, d.last_seq, d.debits_posted,
        d.credits_posted, d.debits_pending, d.credits_pending);
  END IF;
  IF c.last_at < day THEN
    INSERT INTO ledger_balance_closes VALUES (c.id, c.last_at, c.last_seq, c.debits_posted,
        c.credits_posted, c.debits_pending, c.credits_pending);
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

PREVIOUS_SINGLE_TRANSFER_PG = r"""
CREATE OR REPLACE FUNCTION ledger_transfer_one(
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

CLOSES_IMMUTABLE_PG = r"""
CREATE OR REPLACE FUNCTION ledger_balance_closes_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger_balance_closes is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_balance_closes_no_update BEFORE UPDATE OR DELETE ON ledger_balance_closes
  FOR EACH ROW EXECUTE FUNCTION ledger_balance_closes_immutable();
"""
CLOSES_IMMUTABLE_SQLITE = [
    """CREATE TRIGGER ledger_balance_closes_no_update BEFORE UPDATE ON ledger_balance_closes
       BEGIN SELECT RAISE(ABORT, 'ledger_balance_closes is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_balance_closes_no_delete BEFORE DELETE ON ledger_balance_closes
       BEGIN SELECT RAISE(ABORT, 'ledger_balance_closes is append-only: DELETE refused'); END""",
]

# Each account's entries (either side) summed by Beijing day, running totals over its days,
# every day but its last closed (the last one's close is written by its next entry).
BACKFILL = """
INSERT INTO ledger_balance_closes (account_id, closed_at, last_seq, debits_posted,
    credits_posted, debits_pending, credits_pending)
WITH sides AS (
  SELECT t.debit_account_id AS account_id, t.created_at AS at, t.chain_seq AS seq,
         CASE WHEN t.kind IN ('posted', 'post_pending') THEN t.amount ELSE 0 END AS dp,
         0 AS cp,
         CASE WHEN t.kind = 'pending' THEN t.amount
              WHEN t.kind IN ('post_pending', 'void_pending', 'expire_pending') THEN -h.amount
              ELSE 0 END AS dpend,
         0 AS cpend
    FROM ledger_transfers t LEFT JOIN ledger_transfers h ON h.id = t.pending_id
  UNION ALL
  SELECT t.credit_account_id, t.created_at, 0, 0,
         CASE WHEN t.kind IN ('posted', 'post_pending') THEN t.amount ELSE 0 END,
         0,
         CASE WHEN t.kind = 'pending' THEN t.amount
              WHEN t.kind IN ('post_pending', 'void_pending', 'expire_pending') THEN -h.amount
              ELSE 0 END
    FROM ledger_transfers t LEFT JOIN ledger_transfers h ON h.id = t.pending_id
), days AS (
  SELECT account_id, {day} AS day, max(at) AS closed_at, max(seq) AS seq,
         sum(dp) AS dp, sum(cp) AS cp, sum(dpend) AS dpend, sum(cpend) AS cpend
    FROM sides GROUP BY account_id, {day}
), running AS (
  SELECT account_id, closed_at,
         max(seq) OVER w AS last_seq, sum(dp) OVER w AS dp, sum(cp) OVER w AS cp,
         sum(dpend) OVER w AS dpend, sum(cpend) OVER w AS cpend,
         row_number() OVER (PARTITION BY account_id ORDER BY day DESC) AS from_end
    FROM days
  WINDOW w AS (PARTITION BY account_id ORDER BY day ROWS UNBOUNDED PRECEDING)
)
SELECT account_id, closed_at, last_seq, dp, cp, dpend, cpend FROM running WHERE from_end > 1
"""
DAY = {
    "postgresql": "date_trunc('day', (at AT TIME ZONE 'UTC') + interval '8 hours')",
    "sqlite": "date(at, '+8 hours')",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "ledger_balance_closes",
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("closed_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("debits_posted", ledger.types.Money(), nullable=False),
        sa.Column("credits_posted", ledger.types.Money(), nullable=False),
        sa.Column("debits_pending", ledger.types.Money(), nullable=False),
        sa.Column("credits_pending", ledger.types.Money(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "closed_at", name="pk_ledger_balance_closes"),
    )
    op.execute(BACKFILL.format(day=DAY[dialect]))
    if dialect == "postgresql":
        op.execute(CLOSES_IMMUTABLE_PG)
        op.execute(SINGLE_TRANSFER_PG)
    else:
        for statement in CLOSES_IMMUTABLE_SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PREVIOUS_SINGLE_TRANSFER_PG)
    op.drop_table("ledger_balance_closes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_balance_closes_immutable()")
