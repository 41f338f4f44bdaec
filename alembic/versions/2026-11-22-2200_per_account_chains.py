"""per-account hash chains, single-transfer function, no account foreign keys

The ledger's hash chain moves from one chain per ledger (its head in ledger_chains) to one
chain per debit account (its head on the account row). Every existing transfer is relinked
into its debit account's chain in the order it had in its ledger's chain, after that old
chain has been checked link by link: a migration must not launder a tampered ledger, so a
broken chain stops it with the first bad transfer named. On PostgreSQL it also installs
`ledger_transfer_one`, the one-round-trip path for a single new transfer. Transfers lose
their foreign keys to the accounts, and accounts become undeletable instead (why: the comment
on ledger_transfers in ledger/schema.py). Transfers are read into memory and relinked one
UPDATE each: fine for the ledgers that exist (demo and test databases); a ledger of millions
of rows would want this done in batches first.

Revision ID: 7c1f3e2a9b54
Revises: 640b048ac46b
Create Date: 2026-11-22 22:00:00
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '7c1f3e2a9b54'
down_revision: str | Sequence[str] | None = '640b048ac46b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen: the SQL exactly as this migration ran it, so that later changes to ledger/ cannot
# change what an old revision does.
ACCOUNTS_KEPT_PG = r"""
CREATE OR REPLACE FUNCTION ledger_accounts_kept() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'ledger_accounts are never deleted: close the account instead';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_accounts_kept();
"""
ACCOUNTS_KEPT_SQLITE = r"""CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
   BEGIN SELECT RAISE(ABORT, 'ledger_accounts are never deleted: close the account instead'); END"""
IMMUTABLE_TRIGGER_SQLITE = [
    r"""CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: UPDATE refused'); END""",
    r"""CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
       BEGIN SELECT RAISE(ABORT, 'ledger_transfers is append-only: DELETE refused'); END""",
]
SINGLE_TRANSFER_PG = r"""
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

GENESIS = "0" * 64

_meta = sa.MetaData()
_accounts = sa.Table(
    "ledger_accounts",
    _meta,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("ledger", sa.String(64)),
    sa.Column("last_seq", sa.Integer()),
    sa.Column("last_hash", sa.String(64)),
)
_transfers = sa.Table(
    "ledger_transfers",
    _meta,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("ledger", sa.String(64)),
    sa.Column("chain_seq", sa.Integer()),
    sa.Column("debit_account_id", sa.String(40)),
    sa.Column("credit_account_id", sa.String(40)),
    sa.Column("amount", ledger.types.Money()),
    sa.Column("kind", sa.String(16)),
    sa.Column("code", sa.String(32)),
    sa.Column("pending_id", sa.String(40)),
    sa.Column("expires_at", ledger.types.UTCDateTime()),
    sa.Column("reference", sa.String(128)),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("created_at", ledger.types.UTCDateTime()),
    sa.Column("prev_hash", sa.String(64)),
    sa.Column("hash", sa.String(64)),
)
_chains = sa.Table(
    "ledger_chains",
    _meta,
    sa.Column("ledger", sa.String(64), primary_key=True),
    sa.Column("last_seq", sa.Integer()),
    sa.Column("last_hash", sa.String(64)),
)


# The link formula as it stands at this revision, frozen here so that a later change to the
# ledger's code cannot change what this migration computes.
def _instant(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def _link(r: sa.Row, prev: str, seq: int) -> str:
    amount: Decimal = r.amount
    parts = [
        prev, r.id, r.ledger, str(seq), r.debit_account_id, r.credit_account_id, f"{amount:.2f}",
        r.kind, r.code, r.pending_id or "", _instant(r.expires_at), r.reference or "",
        r.idempotency_key or "", r.content_hash, _instant(r.created_at),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _rechain(
    old_key: Callable[[sa.Row], str],
    new_key: Callable[[sa.Row], str],
    new_order: Callable[[sa.Row], object] | None = None,
) -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """Check every chain under `old_key`, relink every transfer into chains under `new_key`
    (in the old order, or by `new_order`), and return the old and the new heads."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_transfers)).all()
    rows.sort(key=lambda r: (old_key(r), r.chain_seq))
    old_heads: dict[str, tuple[int, str]] = {}
    for r in rows:
        seq, prev = old_heads.get(old_key(r), (0, GENESIS))
        if r.chain_seq != seq + 1 or r.prev_hash != prev or _link(r, prev, seq + 1) != r.hash:
            raise RuntimeError(
                f"ledger chain broken at transfer {r.id}: run `tuitionguard ledger verify` "
                "on the previous release and investigate before migrating"
            )
        old_heads[old_key(r)] = (r.chain_seq, r.hash)
    if new_order is not None:
        rows.sort(key=new_order)
    new_heads: dict[str, tuple[int, str]] = {}
    for r in rows:
        seq, prev = new_heads.get(new_key(r), (0, GENESIS))
        link = _link(r, prev, seq + 1)
        conn.execute(
            _transfers.update()
            .where(_transfers.c.id == r.id)
            .values(chain_seq=seq + 1, prev_hash=prev, hash=link)
        )
        new_heads[new_key(r)] = (seq + 1, link)
    return old_heads, new_heads


def _guard(on: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        verb = "ENABLE" if on else "DISABLE"
        op.execute(f"ALTER TABLE ledger_transfers {verb} TRIGGER ledger_transfers_no_update")
    elif on:
        for statement in IMMUTABLE_TRIGGER_SQLITE:
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_transfers_no_delete")


_ACCOUNT_FKS = {
    "fk_ledger_transfers_debit_account_id_ledger_accounts": "debit_account_id",
    "fk_ledger_transfers_credit_account_id_ledger_accounts": "credit_account_id",
}


def _swap_constraint(
    columns: list[str], relink: Callable[[], None], account_fks: bool
) -> None:
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ledger_transfers_chain", type_="unique")
    relink()
    with op.batch_alter_table("ledger_transfers", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_ledger_transfers_chain", columns)
        for name, column in _ACCOUNT_FKS.items():
            if account_fks:
                batch_op.create_foreign_key(name, "ledger_accounts", [column], ["id"])
            else:
                batch_op.drop_constraint(name, type_="foreignkey")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's batch mode rebuilds the table; make sure the partial index keeps its WHERE.
        op.execute("DROP INDEX IF EXISTS ix_ledger_transfers_open_holds")
        op.create_index(
            "ix_ledger_transfers_open_holds",
            "ledger_transfers",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("kind = 'pending'"),
        )


def upgrade() -> None:
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("last_hash", sa.String(length=64), server_default=GENESIS, nullable=False)
        )
    _guard(False)
    conn = op.get_bind()

    def relink() -> None:
        old, new = _rechain(lambda r: r.ledger, lambda r: r.debit_account_id)
        stored = {r.ledger: (r.last_seq, r.last_hash) for r in conn.execute(sa.select(_chains))}
        for name, head in old.items():
            if stored.get(name) != head:
                raise RuntimeError(f"ledger {name}: chain head does not match its last transfer")
        for account_id, (seq, link) in new.items():
            conn.execute(
                _accounts.update()
                .where(_accounts.c.id == account_id)
                .values(last_seq=seq, last_hash=link)
            )

    # The accounts' foreign keys go (see ledger/schema.py); accounts become undeletable.
    _swap_constraint(["debit_account_id", "chain_seq"], relink, account_fks=False)
    op.drop_table("ledger_chains")
    _guard(True)
    if conn.dialect.name == "postgresql":
        op.execute(SINGLE_TRANSFER_PG)
        op.execute(ACCOUNTS_KEPT_PG)
    else:
        op.execute(ACCOUNTS_KEPT_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_transfer_one")
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_delete ON ledger_accounts")
        op.execute("DROP FUNCTION IF EXISTS ledger_accounts_kept()")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_accounts_no_delete")
    op.create_table(
        "ledger_chains",
        sa.Column("ledger", sa.String(length=64), nullable=False),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ledger", name=op.f("pk_ledger_chains")),
    )
    _guard(False)
    conn = op.get_bind()

    def relink() -> None:
        # Per-account chains keep no order across accounts: rebuild the ledger's by time.
        old, new = _rechain(
            lambda r: r.debit_account_id,
            lambda r: r.ledger,
            lambda r: (r.created_at, r.debit_account_id, r.chain_seq),
        )
        accounts = conn.execute(sa.select(_accounts)).all()
        for a in accounts:
            if old.get(a.id, (0, GENESIS)) != (a.last_seq, a.last_hash):
                raise RuntimeError(f"account {a.id}: chain head does not match its last transfer")
        ledgers = {a.ledger for a in accounts}
        for name in sorted(ledgers):
            seq, link = new.get(name, (0, GENESIS))
            conn.execute(_chains.insert().values(ledger=name, last_seq=seq, last_hash=link))

    _swap_constraint(["ledger", "chain_seq"], relink, account_fks=True)
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_column("last_hash")
        batch_op.drop_column("last_seq")
    _guard(True)
