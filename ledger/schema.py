"""The ledger's own tables. Nothing outside `ledger/` writes to them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)

from ledger.chain import link_sql
from ledger.types import Money, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

GENESIS_HASH = "0" * 64  # what the first link of every chain points back to

# An account: one side of many transfers. Balances are from the ledger's point of view:
# an asset (escrow cash) grows by debits, a liability (what is owed to a parent) by credits.
accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    # Transfers only move money between accounts of the same ledger (one per institution).
    Column("ledger", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("currency", String(3), nullable=False, server_default="CNY"),
    Column("debits_posted", Money(), nullable=False, server_default="0"),
    Column("credits_posted", Money(), nullable=False, server_default="0"),
    Column("debits_pending", Money(), nullable=False, server_default="0"),
    Column("credits_pending", Money(), nullable=False, server_default="0"),
    Column(
        "debits_must_not_exceed_credits", Boolean(), nullable=False, server_default=text("false")
    ),
    Column(
        "credits_must_not_exceed_debits", Boolean(), nullable=False, server_default=text("false")
    ),
    Column("closed", Boolean(), nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime(), nullable=False),
    # The head of this account's hash chain: the transfers it is the debit side of, in order.
    # It lives on the row every such writer already locks to change the balance, so chaining
    # costs no lock of its own and serialises nobody who was not already waiting.
    Column("last_seq", Integer(), nullable=False, server_default="0"),
    Column("last_hash", String(64), nullable=False, server_default=GENESIS_HASH),
    # The instant of the account's latest entry, either side (its opening, before any): no
    # transfer is recorded earlier, so time never runs backwards in an account.
    Column("last_at", UTCDateTime(), nullable=False),
    UniqueConstraint("ledger", "kind", "owner", name="uq_ledger_accounts_natural"),
    CheckConstraint(
        "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
        "AND credits_pending >= 0",
        name="non_negative",
    ),
    CheckConstraint(
        "NOT debits_must_not_exceed_credits OR debits_posted + debits_pending <= credits_posted",
        name="debit_limit",
    ),
    CheckConstraint(
        "NOT credits_must_not_exceed_debits OR credits_posted + credits_pending <= debits_posted",
        name="credit_limit",
    ),
)
Index("ix_ledger_accounts_owner", accounts.c.owner)
# Accounts of one kind across ledgers (`balances.kind_accounts`: every institution's escrow
# at once) without reading the far more numerous accounts of other kinds. No index on this
# table may hold a column a transfer changes (balances, chain head, `last_at`): then every
# balance change is a HOT update, written beside the old row version in the room the
# fillfactor (50, by migration) keeps, with no index touched (a test reads pg_stat_user_tables).
Index("ix_ledger_accounts_kind", accounts.c.kind, accounts.c.ledger)

# A transfer: immutable once written (a trigger refuses UPDATE and DELETE on PostgreSQL and
# SQLite). kind is one of: posted (single-phase), pending (a hold), post_pending, void_pending,
# expire_pending (the three ways a hold resolves; pending_id names the hold, and the unique
# index on it makes "resolves once and only once" a database fact).
transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("ledger", String(64), nullable=False),
    # The transfer's place in its debit account's hash chain (1, 2, …; unique per account).
    Column("chain_seq", Integer(), nullable=False),
    # No foreign keys to the accounts: every write path locks and reads both accounts in the
    # same transaction before it appends, accounts can never be deleted (a trigger refuses),
    # and `verify` checks both sides of every transfer. Foreign keys would check it all a
    # fourth time, one trigger query per side per row, at 40% of a batch's cost (benchmarks).
    Column("debit_account_id", String(40), nullable=False),
    Column("credit_account_id", String(40), nullable=False),
    Column("amount", Money(), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("code", String(32), nullable=False),
    Column("pending_id", String(40), ForeignKey("ledger_transfers.id"), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("reference", String(128), nullable=True),
    Column("idempotency_key", String(128), nullable=True),
    Column("content_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("debit_account_id", "chain_seq", name="uq_ledger_transfers_chain"),
    UniqueConstraint("idempotency_key", name="uq_ledger_transfers_idempotency_key"),
    UniqueConstraint("pending_id", name="uq_ledger_transfers_pending_id"),
    CheckConstraint("amount > 0", name="positive_amount"),
    CheckConstraint("debit_account_id <> credit_account_id", name="two_sides"),
    CheckConstraint(
        "kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')",
        name="kind",
    ),
    CheckConstraint("(kind IN ('posted', 'pending')) = (pending_id IS NULL)", name="pending_link"),
)
# Lookups by debit account use the chain's unique index, whose leading column it is; every
# further index is paid on every transfer written, inside the writers' lock.
Index("ix_ledger_transfers_credit", transfers.c.credit_account_id, transfers.c.created_at)
Index(
    "ix_ledger_transfers_open_holds",
    transfers.c.expires_at,
    postgresql_where=text("kind = 'pending'"),
    sqlite_where=text("kind = 'pending'"),
)


# What an account stood at after the last entry of each day it had entries (Beijing days): the
# first entry of a later day writes it, from the figures it has just locked, so a balance at
# any past instant is that day's close plus the few entries after it (`balances`), whatever
# the length of the history. `last_seq` is the debit chain's head then: the entries after a
# close are found by their place in the chain, on the index the chain already has. Derived
# figures, never trusted: `verify` recomputes every close from the transfers.
closes = Table(
    "ledger_balance_closes",
    metadata,
    Column("account_id", String(40), primary_key=True),
    Column("closed_at", UTCDateTime(), primary_key=True),
    Column("last_seq", Integer(), nullable=False),
    Column("debits_posted", Money(), nullable=False),
    Column("credits_posted", Money(), nullable=False),
    Column("debits_pending", Money(), nullable=False),
    Column("credits_pending", Money(), nullable=False),
)

CLOSES_IMMUTABLE_PG = """
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

# The start of the Beijing day of an instant, in SQL (China keeps no daylight saving).
DAY_START_PG = (
    "(date_trunc('day', ({at} AT TIME ZONE 'UTC') + interval '8 hours') - interval '8 hours')"
    " AT TIME ZONE 'UTC'"
)

IMMUTABLE_TRIGGER_PG = """
CREATE OR REPLACE FUNCTION ledger_transfers_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger_transfers is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE OR DELETE ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable();
"""

# Accounts are never deleted (closing is how an account stops): transfers rely on it in place
# of foreign keys, and a deleted account would take its history's other side with it.
ACCOUNTS_KEPT_PG = """
CREATE OR REPLACE FUNCTION ledger_accounts_kept() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger_accounts are never deleted: close the account instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_accounts_kept();
"""
ACCOUNTS_KEPT_SQLITE = """CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
   BEGIN SELECT RAISE(ABORT, 'ledger_accounts are never deleted: close the account instead'); END"""

IMMUTABLE_TRIGGER_SQLITE = [
    """CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: DELETE refused'); END""",
]

# One new transfer in one round trip on PostgreSQL (`postings._single_postgresql`). It has to be
# a function, not one statement: a statement's snapshot is taken before it waits for a lock,
# so an UPDATE in the same statement would first meet the balance as it was before the writer
# it waited for, and PostgreSQL checks CHECK constraints on that stale version (a spurious
# violation) before it moves to the newest one. Each statement in a function gets a snapshot
# taken after the locks are held. The function locks both accounts in id order, decides with
# the same tests `_plan_new` makes, and only if they pass moves the balances, the accounts'
# latest instant and the debit account's chain head (first writing the close of an account's
# last day, if this is its first entry of a later day), and appends the linked transfer. On a
# refusal the locks stay held to the end of the transaction, so the caller can read exactly
# what the function saw. `late` says an account already has an entry after `p_at`: the caller
# then records the transfer at that instant by the general path.
SINGLE_TRANSFER_PG = f"""
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
  day := {DAY_START_PG.format(at="p_at")};
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
  link := {link_sql("prev", "p_id", "ledger", "seq", "p_tail")};
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
