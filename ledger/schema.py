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

# An account: one side of many transfers. Balances are from the ledger's point of view:
# an asset (escrow cash) grows by debits, a liability (what is owed to a parent) by credits.
accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    # Transfers only move money between accounts of the same ledger; one hash chain per ledger.
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

# A transfer: immutable once written (a trigger refuses UPDATE and DELETE on PostgreSQL and
# SQLite). kind is one of: posted (single-phase), pending (a hold), post_pending, void_pending,
# expire_pending (the three ways a hold resolves; pending_id names the hold, and the unique
# index on it makes "resolves once and only once" a database fact).
transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("ledger", String(64), nullable=False),
    Column("chain_seq", Integer(), nullable=False),
    Column("debit_account_id", String(40), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account_id", String(40), ForeignKey("ledger_accounts.id"), nullable=False),
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
    UniqueConstraint("ledger", "chain_seq", name="uq_ledger_transfers_chain"),
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
Index("ix_ledger_transfers_debit", transfers.c.debit_account_id, transfers.c.created_at)
Index("ix_ledger_transfers_credit", transfers.c.credit_account_id, transfers.c.created_at)
Index("ix_ledger_transfers_reference", transfers.c.reference)
Index(
    "ix_ledger_transfers_open_holds",
    transfers.c.expires_at,
    postgresql_where=text("kind = 'pending'"),
    sqlite_where=text("kind = 'pending'"),
)

# The head of each ledger's hash chain. Locking this row orders the writers of one ledger
# (one institution) while leaving other ledgers free to write in parallel.
chains = Table(
    "ledger_chains",
    metadata,
    Column("ledger", String(64), primary_key=True),
    Column("last_seq", Integer(), nullable=False, server_default="0"),
    Column("last_hash", String(64), nullable=False),
)

GENESIS_HASH = "0" * 64

IMMUTABLE_TRIGGER_PG = """
CREATE OR REPLACE FUNCTION ledger_transfers_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger_transfers is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE OR DELETE ON ledger_transfers
  FOR EACH ROW EXECUTE FUNCTION ledger_transfers_immutable();
"""

IMMUTABLE_TRIGGER_SQLITE = [
    """CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: DELETE refused'); END""",
]
