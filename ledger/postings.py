"""Making transfers: the one code path by which balances change.

Every call, one transfer or a batch of thousands, goes through `apply`:

1. (resolves only) read the holds being resolved, to learn their accounts;
2. in one statement, lock the accounts touched in id order and read them, with their
   hash-chain heads (a fixed order means no deadlock);
3. replay idempotent repeats, refuse conflicting ones;
4. check every operation in sequence against the locked balances (limits against posted plus
   pending, holds resolved once) — a refusal raises before anything is written, so a refused
   batch leaves no trace;
5. write each account's change and chain head as one conditional UPDATE whose WHERE repeats
   the limit (and a CHECK constraint repeats it again), and append the transfers, each linked
   into the chain of its debit account.

Time never runs backwards in an account: a batch is recorded at `at`, or, if either side of one
of its transfers (or a hold it resolves) already has an entry later than `at`, at that later
instant, as TigerBeetle assigns timestamps itself. So no figure already given for a past
instant can change: a caller whose clock is behind (a request that waited for a lock, or a
hostile back-dating) gets its transfer recorded when it was written, not when it claims.

On PostgreSQL a single new transfer, the commonest call, does all of this in one round trip:
one call of the database function `ledger_transfer_one` (`_single_postgresql`), which still
decides a refusal before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Result, and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from ledger import errors
from ledger.amounts import ZERO, fen
from ledger.bulk import COPY_FROM, copy_rows, fetch_driver
from ledger.chain import content_hash, link_of, link_tail
from ledger.days import day_start
from ledger.ids import new_id, new_ids
from ledger.lists import listed, one_of, text_array
from ledger.models import NewTransfer, Operation, Resolve, Transfer
from ledger.schema import accounts, closes, transfers
from ledger.transactions import run_transaction
from ledger.types import Money, UTCDateTime
from ledger.wire import call_single


@dataclass
class _Working:
    """An account's balances as the batch changes them, with its limits."""

    ledger: str
    closed: bool
    dmnec: bool
    cmned: bool
    dp: Decimal
    cp: Decimal
    dpend: Decimal
    cpend: Decimal
    seq: int = 0
    head: str = ""
    last_at: datetime | None = None
    touched: bool = False
    orig: tuple[Decimal, Decimal, Decimal, Decimal] = (ZERO, ZERO, ZERO, ZERO)
    orig_seq: int = 0

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> _Working:
        """From a row of `lock_and_read` (its columns in `_LOCKED`'s order, the id first)."""
        _, lg, closed, dmnec, cmned, dp, cp, dpend, cpend, seq, head, last_at = r
        w = cls(
            lg, bool(closed), bool(dmnec), bool(cmned), dp, cp, dpend, cpend, seq, head, last_at
        )
        w.orig = (w.dp, w.cp, w.dpend, w.cpend)
        w.orig_seq = w.seq
        return w

    def check(self, account_id: str, index: int) -> None:
        if max(self.dp, self.cp, self.dpend, self.cpend) > MAX_AMOUNT:
            raise errors.Overflow(
                f"account {account_id}: a balance would exceed {MAX_AMOUNT}", index=index
            )
        if self.dmnec and self.dp + self.dpend > self.cp:
            raise errors.ExceedsCredits(
                f"account {account_id}: debits {self.dp + self.dpend} would exceed "
                f"credits {self.cp}",
                index=index,
            )
        if self.cmned and self.cp + self.cpend > self.dp:
            raise errors.ExceedsDebits(
                f"account {account_id}: credits {self.cp + self.cpend} would exceed "
                f"debits {self.dp}",
                index=index,
            )


def _new_id() -> str:
    return new_id("tr")


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("the ledger's clock must be an aware datetime")


# NUMERIC(18,2): sixteen integer digits. Checked in code so that both databases refuse alike
# (SQLite's integer fen would take more) and PostgreSQL never aborts the caller's transaction.
MAX_AMOUNT = Decimal("9999999999999999.99")
MAX_CODE = 32  # ledger_transfers.code
MAX_TEXT = 128  # ledger_transfers.reference and idempotency_key


def _validate(ops: Sequence[Operation], at: datetime) -> None:
    """What can be refused from the operations alone, before anything is read or locked."""
    for i, op in enumerate(ops):
        if op.amount is not None:
            try:
                amount = fen(op.amount)
            except (TypeError, ValueError) as exc:
                raise errors.InvalidAmount(str(exc), index=i) from exc
            if amount <= ZERO:
                raise errors.InvalidAmount(f"amount must be positive: {amount}", index=i)
            if amount > MAX_AMOUNT:
                raise errors.Overflow(f"amount {amount} exceeds {MAX_AMOUNT}", index=i)
        for name in ("reference", "idempotency_key"):
            value = getattr(op, name)
            if value is not None and len(value) > MAX_TEXT:
                raise errors.InvalidCode(f"{name} is longer than {MAX_TEXT}", index=i)
        if isinstance(op, NewTransfer):
            _validate_new(op, i, at)


def _validate_new(op: NewTransfer, i: int, at: datetime) -> None:
    code = op.code
    if not code or len(code) > MAX_CODE or not code.isprintable():
        raise errors.InvalidCode(
            f"code must be 1 to {MAX_CODE} printable characters: {code!r}", index=i
        )
    if op.debit_account_id == op.credit_account_id:
        raise errors.LedgerMismatch("a transfer needs two different accounts", index=i)
    if op.expires_at is not None:
        if not op.pending:
            raise errors.InvalidExpiry("only a pending transfer can expire", index=i)
        _require_aware(op.expires_at)
        if op.expires_at <= at:
            raise errors.InvalidExpiry(
                f"the hold would expire ({op.expires_at.isoformat()}) no later than it is made "
                f"({at.isoformat()})",
                index=i,
            )


def apply(conn: Connection, ops: Sequence[Operation], *, at: datetime) -> list[Transfer]:
    """Apply `ops` atomically, in order, at instant `at`. Returns one transfer per operation
    (the original transfer for an idempotent replay). Raises a `LedgerError` and writes nothing
    if any operation is refused."""
    _require_aware(at)
    if not ops:
        return []
    _validate(ops, at)
    if len(ops) == 1 and isinstance(ops[0], NewTransfer) and conn.dialect.name == "postgresql":
        single = _single_postgresql(conn, ops[0], at)
        if single is not None:
            return [single]

    pending_ids = sorted({op.pending_id for op in ops if isinstance(op, Resolve)})
    holds: dict[str, Transfer] = {}
    if pending_ids:
        rows = conn.execute(select(transfers).where(one_of(conn, transfers.c.id, pending_ids)))
        holds = {t.id: t for t in map(Transfer.from_row, rows)}
    account_ids: set[str] = set()
    for i, op in enumerate(ops):
        if isinstance(op, NewTransfer):
            account_ids.update((op.debit_account_id, op.credit_account_id))
        else:
            hold = holds.get(op.pending_id)
            if hold is None or hold.kind != "pending":
                raise errors.PendingNotFound(f"no pending transfer {op.pending_id}", index=i)
            account_ids.update((hold.debit_account_id, hold.credit_account_id))

    # Everything that does not depend on the balances or the chain heads is made before the
    # accounts are locked: concurrent writers of the same accounts wait only for the rest.
    hashes = [content_hash(op) for op in ops]
    tails = _tails(ops, hashes, at)
    working = {r[0]: _Working.from_row(r) for r in _locked(conn, account_ids)}
    when = _instant(at, working.values(), holds.values())
    if when != at:
        tails = _tails(ops, hashes, when)
    replays = _replays(conn, ops, hashes)
    already = _resolved(conn, pending_ids)

    planned: list[tuple[int, dict[str, object]]] = []
    resolved_here: dict[str, str] = {}
    for i, op in enumerate(ops):
        if i in replays:
            continue
        if isinstance(op, NewTransfer):
            row = _plan_new(op, i, working, when)
        else:
            how = already.get(op.pending_id) or resolved_here.get(op.pending_id)
            if how is not None:
                raise _ALREADY[how](
                    f"pending transfer {op.pending_id} is already {_DONE[how]}", index=i
                )
            row = _plan_resolve(op, i, holds[op.pending_id], working, when)
            resolved_here[op.pending_id] = str(row["kind"])
        row["content_hash"] = hashes[i]
        planned.append((i, row))

    written = _write(conn, planned, working, when, tails)
    return [replays[i] if i in replays else written[i] for i in range(len(ops))]


def _tails(ops: Sequence[Operation], hashes: list[str], at: datetime) -> dict[int, str]:
    return {
        i: link_tail(**_fields_of(op, fen(op.amount)), content_hash=hashes[i], created_at=at)
        for i, op in enumerate(ops)
        if isinstance(op, NewTransfer)
    }


def _instant(at: datetime, working: Iterable[_Working], holds: Iterable[Transfer]) -> datetime:
    """When the batch is recorded: `at`, or the latest entry of an account it touches or of a
    hold it resolves, if that is later (see the module's docstring)."""
    latest = [w.last_at for w in working if w.last_at is not None]
    latest += [h.created_at for h in holds]
    newest = max(latest, default=at)
    return newest if newest > at else at


_ALREADY: dict[str, type[errors.PendingAlreadyResolved]] = {
    "post_pending": errors.PendingAlreadyPosted,
    "void_pending": errors.PendingAlreadyVoided,
    "expire_pending": errors.PendingAlreadyExpired,
}
_DONE = {"post_pending": "posted", "void_pending": "voided", "expire_pending": "expired"}


# What a writer needs of an account it locks: no more, since a batch reads a thousand.
_LOCKED = [
    accounts.c[c]
    for c in (
        "id",
        "ledger",
        "closed",
        "debits_must_not_exceed_credits",
        "credits_must_not_exceed_debits",
        "debits_posted",
        "credits_posted",
        "debits_pending",
        "credits_pending",
        "last_seq",
        "last_hash",
        "last_at",
    )
]


def lock_and_read(conn: Connection, ids: Iterable[str]) -> Result[Any]:
    """The accounts, with their chain heads, locked in id order: two writers that share
    accounts lock them in the same order, so neither can hold what the other waits for. A lock
    that had to wait returns the newest committed version of the row, so the balances read are
    current. (SQLite has no row locks; its writers are serialised by the database.)"""
    ordered = sorted(ids)
    if conn.dialect.name == "postgresql":
        # As plain driver rows: NUMERIC(18,2) arrives as a Decimal of two places already, and
        # converting a thousand accounts' balances again cost more than the query.
        return conn.exec_driver_sql(_PG_LOCK_AND_READ, {"ids": text_array(ordered)})
    return conn.execute(_SQLITE_LOCK_AND_READ, {"ids": ordered})


def _locked(conn: Connection, ids: Iterable[str]) -> Sequence[Sequence[Any]]:
    """`lock_and_read`'s rows as plain tuples: on PostgreSQL fetched by the driver itself
    (for a batch's thousand accounts SQLAlchemy's rows cost as much again as the fetch)."""
    if conn.dialect.name != "postgresql":
        return list(lock_and_read(conn, ids))
    return fetch_driver(conn, _PG_LOCK_AND_READ, {"ids": text_array(sorted(ids))})


_SQLITE_LOCK_AND_READ = (
    select(*_LOCKED)
    .where(listed(accounts.c.id, "ids", postgresql=False))
    .order_by(accounts.c.id)
    .with_for_update()
)


_PG_LOCK_AND_READ = (
    f"SELECT {', '.join(c.name for c in _LOCKED)} FROM ledger_accounts"
    " WHERE id = ANY(%(ids)s::text[]) ORDER BY id FOR UPDATE"
)


def _replays(conn: Connection, ops: Sequence[Operation], hashes: list[str]) -> dict[int, Transfer]:
    keyed = {op.idempotency_key: i for i, op in enumerate(ops) if op.idempotency_key}
    if len(keyed) != sum(1 for op in ops if op.idempotency_key):
        raise errors.IdempotencyConflict("the same idempotency key twice in one batch")
    if not keyed:
        return {}
    found = conn.execute(_BY_KEYS[conn.dialect.name == "postgresql"], {"keys": list(keyed)})
    out: dict[int, Transfer] = {}
    for t in map(Transfer.from_row, found):
        assert t.idempotency_key is not None
        i = keyed[t.idempotency_key]
        if t.content_hash != hashes[i]:
            raise errors.IdempotencyConflict(
                f"idempotency key {t.idempotency_key!r} was used for another transfer", index=i
            )
        out[i] = t
    return out


def _resolved(conn: Connection, pending_ids: list[str]) -> dict[str, str]:
    """How each of these holds was resolved already (its resolution's kind), if it was."""
    if not pending_ids:
        return {}
    rows = conn.execute(_RESOLUTIONS[conn.dialect.name == "postgresql"], {"ids": pending_ids})
    return {r.pending_id: r.kind for r in rows}


# Built once per dialect (False: SQLite, True: PostgreSQL): every call runs them, and
# building and keying a statement cost more than these indexed reads.
_BY_KEYS = {
    pg: select(transfers).where(listed(transfers.c.idempotency_key, "keys", postgresql=pg))
    for pg in (False, True)
}
_RESOLUTIONS = {
    pg: select(transfers.c.pending_id, transfers.c.kind).where(
        listed(transfers.c.pending_id, "ids", postgresql=pg)
    )
    for pg in (False, True)
}


def _account(working: dict[str, _Working], account_id: str, index: int) -> _Working:
    w = working.get(account_id)
    if w is None:
        raise errors.AccountNotFound(f"no account {account_id}", index=index)
    if w.closed:
        raise errors.AccountClosed(f"account {account_id} is closed", index=index)
    return w


def _plan_new(
    op: NewTransfer, i: int, working: dict[str, _Working], at: datetime
) -> dict[str, object]:
    d = _account(working, op.debit_account_id, i)
    c = _account(working, op.credit_account_id, i)
    if d.ledger != c.ledger:
        raise errors.LedgerMismatch(
            f"accounts are in different ledgers ({d.ledger}, {c.ledger})", index=i
        )
    if op.expires_at is not None and op.expires_at <= at:
        raise errors.InvalidExpiry(
            f"the hold would expire ({op.expires_at.isoformat()}) before it is recorded "
            f"({at.isoformat()}, the accounts' latest entry)",
            index=i,
        )
    amount = fen(op.amount)
    if op.pending:
        d.dpend += amount
        c.cpend += amount
    else:
        d.dp += amount
        c.cp += amount
    d.touched = c.touched = True
    d.check(op.debit_account_id, i)
    c.check(op.credit_account_id, i)
    return {"ledger": d.ledger, **_fields_of(op, amount)}


def _fields_of(op: NewTransfer, amount: Decimal) -> dict[str, Any]:
    """A new transfer's stored fields that do not depend on its ledger or its chain."""
    return {
        "debit_account_id": op.debit_account_id,
        "credit_account_id": op.credit_account_id,
        "amount": amount,
        "kind": "pending" if op.pending else "posted",
        "code": op.code,
        "pending_id": None,
        "expires_at": op.expires_at,
        "reference": op.reference,
        "idempotency_key": op.idempotency_key,
    }


def _plan_resolve(
    op: Resolve, i: int, hold: Transfer, working: dict[str, _Working], at: datetime
) -> dict[str, object]:
    d = working[hold.debit_account_id]
    c = working[hold.credit_account_id]
    expired = hold.expires_at is not None and at >= hold.expires_at
    if op.action == "expire" and not expired:
        raise errors.PendingNotFound(f"pending transfer {hold.id} has not expired", index=i)
    if op.action != "expire" and expired:
        raise errors.PendingExpired(f"pending transfer {hold.id} expired", index=i)
    if op.action == "void" and op.amount is not None and fen(op.amount) != hold.amount:
        raise errors.VoidAmountDiffers(
            f"a void returns the whole hold of {hold.amount}, not {op.amount}", index=i
        )
    d.dpend -= hold.amount
    c.cpend -= hold.amount
    amount = hold.amount
    if op.action == "post":
        if op.amount is not None:
            amount = fen(op.amount)
            if amount > hold.amount:
                raise errors.PostExceedsPending(
                    f"post of {amount} exceeds the pending {hold.amount}", index=i
                )
        d.dp += amount
        c.cp += amount
    d.touched = c.touched = True
    d.check(hold.debit_account_id, i)
    c.check(hold.credit_account_id, i)
    kind = {"post": "post_pending", "void": "void_pending", "expire": "expire_pending"}[op.action]
    return {
        "ledger": hold.ledger,
        "debit_account_id": hold.debit_account_id,
        "credit_account_id": hold.credit_account_id,
        "amount": amount,
        "kind": kind,
        "code": hold.code,
        "pending_id": hold.id,
        "expires_at": None,
        "reference": op.reference or hold.reference,
        "idempotency_key": op.idempotency_key,
    }


_UPDATE_ACCOUNT = (
    update(accounts)
    .where(
        and_(
            accounts.c.id == bindparam("b_id"),
            or_(
                ~accounts.c.debits_must_not_exceed_credits,
                accounts.c.debits_posted
                + bindparam("b_dp", type_=Money())
                + accounts.c.debits_pending
                + bindparam("b_dpend", type_=Money())
                <= accounts.c.credits_posted + bindparam("b_cp", type_=Money()),
            ),
            or_(
                ~accounts.c.credits_must_not_exceed_debits,
                accounts.c.credits_posted
                + bindparam("b_cp", type_=Money())
                + accounts.c.credits_pending
                + bindparam("b_cpend", type_=Money())
                <= accounts.c.debits_posted + bindparam("b_dp", type_=Money()),
            ),
        )
    )
    .values(
        debits_posted=accounts.c.debits_posted + bindparam("b_dp", type_=Money()),
        credits_posted=accounts.c.credits_posted + bindparam("b_cp", type_=Money()),
        debits_pending=accounts.c.debits_pending + bindparam("b_dpend", type_=Money()),
        credits_pending=accounts.c.credits_pending + bindparam("b_cpend", type_=Money()),
        last_seq=bindparam("b_seq"),
        last_hash=bindparam("b_hash"),
        last_at=bindparam("b_at", type_=UTCDateTime()),
    )
)


def _write(
    conn: Connection,
    planned: list[tuple[int, dict[str, object]]],
    working: dict[str, _Working],
    at: datetime,
    tails: dict[int, str],
) -> dict[int, Transfer]:
    """Link and store `planned` (resolutions' tails are made here, new transfers' are in
    `tails`)."""
    if not planned:
        return {}
    written: dict[int, Transfer] = {}

    ids = iter(new_ids("tr", len(planned)))  # one draw of random bits for the batch

    def linked() -> Iterator[tuple[object, ...]]:
        """Each transfer linked into its debit account's chain, in order, as a row of
        `ledger_transfers` (its columns in order, which are `Transfer`'s fields)."""
        for i, row in planned:
            debit = working[str(row["debit_account_id"])]
            tid, seq, prev, lg = next(ids), debit.seq + 1, debit.head, str(row["ledger"])
            tail = tails.get(i)
            if tail is None:
                fields = {k: v for k, v in row.items() if k != "ledger"}
                tail = link_tail(**fields, created_at=at)  # type: ignore[arg-type]
            link = link_of(prev, tid, lg, seq, tail)
            debit.seq, debit.head = seq, link
            values = (
                tid,
                lg,
                seq,
                row["debit_account_id"],
                row["credit_account_id"],
                row["amount"],
                row["kind"],
                row["code"],
                row["pending_id"],
                row["expires_at"],
                row["reference"],
                row["idempotency_key"],
                row["content_hash"],
                at,
                prev,
                link,
            )
            written[i] = Transfer(*values)  # type: ignore[arg-type]
            yield values

    day_closes = _closes(working, at)
    postgresql = conn.dialect.name == "postgresql"
    if postgresql and len(day_closes) >= COPY_FROM:  # a batch over thousands of accounts
        names = [c.name for c in closes.columns]
        copy_rows(conn, closes, ([c[n] for n in names] for c in day_closes))
    elif day_closes:
        conn.execute(insert(closes), day_closes)
    if postgresql and len(planned) >= COPY_FROM:
        # Linking streams into COPY, so the server appends rows while Python hashes the next.
        copy_rows(conn, transfers, linked())
        _update_accounts(conn, _changes(working, at))
    elif postgresql:
        rows = list(linked())
        _store_postgresql(conn, _changes(working, at), rows)
    else:
        rows = list(linked())
        _store_generic(conn, _changes(working, at), rows)
    return written


def _closes(working: dict[str, _Working], at: datetime) -> list[dict[str, object]]:
    """The close of each touched account's last day, if `at` is on a later day: its figures
    as locked, before this batch changes them. Not for an account that stood at nothing then
    (all four figures zero, its chain empty): every reader already takes an account before its
    first close to stand at zero with an empty chain, so such a close would say nothing — and
    it was most of a deposit batch's closes (each parent's account, opened when the parent
    enrolled, days before the first payment), a thousand rows a batch."""
    day = day_start(at)
    return [
        {
            "account_id": account_id,
            "closed_at": w.last_at,
            "last_seq": w.orig_seq,
            "debits_posted": w.orig[0],
            "credits_posted": w.orig[1],
            "debits_pending": w.orig[2],
            "credits_pending": w.orig[3],
        }
        for account_id, w in sorted(working.items())
        if w.touched and w.last_at is not None and w.last_at < day and (w.orig_seq or any(w.orig))
    ]


def _changes(working: dict[str, _Working], at: datetime) -> list[dict[str, object]]:
    """What each touched account gains, and where its chain now ends, in id order."""
    changes = []
    for account_id in sorted(working):
        w = working[account_id]
        if not w.touched:
            continue
        dp, cp, dpend, cpend = w.orig
        changes.append(
            {
                "b_id": account_id,
                "b_dp": w.dp - dp,
                "b_cp": w.cp - cp,
                "b_dpend": w.dpend - dpend,
                "b_cpend": w.cpend - cpend,
                "b_seq": w.seq,
                "b_hash": w.head,
                "b_at": at,
            }
        )
    return changes


_COLUMNS = [c.name for c in transfers.columns]


def _store_generic(
    conn: Connection, changes: list[dict[str, object]], rows: list[tuple[object, ...]]
) -> None:
    result = conn.execute(_UPDATE_ACCOUNT, changes)
    if conn.dialect.supports_sane_multi_rowcount and result.rowcount != len(changes):
        raise errors.LedgerCorrupted("an account limit failed in SQL after passing in code")
    conn.execute(insert(transfers), [dict(zip(_COLUMNS, r, strict=True)) for r in rows])


# On PostgreSQL a write is one statement (data-modifying CTEs over unnested arrays): one round
# trip whether it holds one transfer or a hundred. The WHERE clause repeats every limit, so a
# row that would break one is not updated and the count check below fails. The transfers'
# arrays travel in binary (%(x)b): psycopg's text format checks every element for quoting,
# three times the cost for a thousand of them. The accounts' arrays travel as text literals
# made here with one join each (`text_array`, `_numerics`: 0.02-0.08 ms for a thousand): psycopg
# dumps a Decimal in binary at about 3 us (3.15 ms for an array of 1,020 at load 9), a string
# at about 0.4 us, an instant at 0.5 us; the instant, the same for every account, goes once.
_PG_ACCOUNTS_CTE = """
WITH v AS (
  SELECT * FROM unnest(%(a_id)t::text[], %(a_dp)t::numeric[], %(a_cp)t::numeric[],
                       %(a_dpend)t::numeric[], %(a_cpend)t::numeric[],
                       %(a_seq)t::int[], %(a_hash)t::text[])
           AS v(id, dp, cp, dpend, cpend, seq, hash)
), acc AS (
  UPDATE ledger_accounts a
     SET debits_posted = a.debits_posted + v.dp, credits_posted = a.credits_posted + v.cp,
         debits_pending = a.debits_pending + v.dpend, credits_pending = a.credits_pending + v.cpend,
         last_seq = v.seq, last_hash = v.hash, last_at = %(a_at)b::timestamptz
    FROM v
   WHERE a.id = v.id
     AND (NOT a.debits_must_not_exceed_credits
          OR a.debits_posted + v.dp + a.debits_pending + v.dpend <= a.credits_posted + v.cp)
     AND (NOT a.credits_must_not_exceed_debits
          OR a.credits_posted + v.cp + a.credits_pending + v.cpend <= a.debits_posted + v.dp)
  RETURNING 1
)"""
_PG_ACCOUNTS = _PG_ACCOUNTS_CTE + "\nSELECT (SELECT count(*) FROM acc)"
_PG_STORE = (
    _PG_ACCOUNTS_CTE
    + """, ins AS (
  INSERT INTO ledger_transfers (id, ledger, chain_seq, debit_account_id, credit_account_id, amount,
      kind, code, pending_id, expires_at, reference, idempotency_key, content_hash, created_at,
      prev_hash, hash)
  SELECT * FROM unnest(%(t_id)b::text[], %(t_ledger)b::text[], %(t_seq)b::int[],
      %(t_debit)b::text[], %(t_credit)b::text[], %(t_amount)b::numeric[], %(t_kind)b::text[],
      %(t_code)b::text[], %(t_pending)b::text[], %(t_expires)b::timestamptz[],
      %(t_reference)b::text[], %(t_key)b::text[], %(t_content)b::text[],
      %(t_created)b::timestamptz[], %(t_prev)b::text[], %(t_hash)b::text[])
  RETURNING 1
)
SELECT (SELECT count(*) FROM acc), (SELECT count(*) FROM ins)
"""
)


def _account_params(changes: list[dict[str, object]]) -> dict[str, object]:
    """The accounts statement's parameters: every array as its text literal (ids and hashes
    need no escaping and numbers none), made with a join each; the instant, the same for
    every account, once."""
    params: dict[str, object] = {
        "a_id": text_array([str(c["b_id"]) for c in changes]),
        "a_hash": text_array([str(c["b_hash"]) for c in changes]),
        "a_seq": _numerics([c["b_seq"] for c in changes]),
        "a_at": changes[0]["b_at"],
    }
    params.update({f"a_{k}": _numerics([c[f"b_{k}"] for c in changes]) for k in _CHANGES})
    return params


_CHANGES = ("dp", "cp", "dpend", "cpend")


def _numerics(values: list[object]) -> str:
    """A numeric[] as its text literal. Each value is a Decimal, whose `str` is exact and one
    that PostgreSQL's numeric input reads (plain or exponent notation; never NaN here)."""
    return "{" + ",".join(map(str, values)) + "}"


def _update_accounts(conn: Connection, changes: list[dict[str, object]]) -> None:
    (updated,) = conn.exec_driver_sql(_PG_ACCOUNTS, _account_params(changes)).one()
    if updated != len(changes):
        raise errors.LedgerCorrupted(f"{updated} accounts written of {len(changes)}")


def _store_postgresql(
    conn: Connection, changes: list[dict[str, object]], rows: list[tuple[object, ...]]
) -> None:
    params = _account_params(changes)
    params.update({f"t_{k}": [r[_COLUMNS.index(c)] for r in rows] for k, c in _SHORT.items()})
    counts = conn.exec_driver_sql(_PG_STORE, params).one()
    if tuple(counts) != (len(changes), len(rows)):
        raise errors.LedgerCorrupted(f"write counts {tuple(counts)} differ from the plan")


_SHORT = {
    "id": "id",
    "ledger": "ledger",
    "seq": "chain_seq",
    "debit": "debit_account_id",
    "credit": "credit_account_id",
    "amount": "amount",
    "kind": "kind",
    "code": "code",
    "pending": "pending_id",
    "expires": "expires_at",
    "reference": "reference",
    "key": "idempotency_key",
    "content": "content_hash",
    "created": "created_at",
    "prev": "prev_hash",
    "hash": "hash",
}


# See SINGLE_TRANSFER_PG in ledger/schema.py for why this is a function, and ledger/wire.py
# for how it is sent: prepared by name, at the level of libpq, in one round trip.


def _single_params(op: NewTransfer, at: datetime) -> tuple[Any, ...]:
    """`ledger_transfer_one`'s arguments: everything about the transfer that does not need
    the accounts, made before anything is locked."""
    amount = fen(op.amount)
    kind = "pending" if op.pending else "posted"
    content = content_hash(op)
    tail = link_tail(
        debit_account_id=op.debit_account_id,
        credit_account_id=op.credit_account_id,
        amount=amount,
        kind=kind,
        code=op.code,
        pending_id=None,
        expires_at=op.expires_at,
        reference=op.reference,
        idempotency_key=op.idempotency_key,
        content_hash=content,
        created_at=at,
    )
    posted, pending = (ZERO, amount) if op.pending else (amount, ZERO)
    return (
        op.debit_account_id,
        op.credit_account_id,
        posted,
        pending,
        _new_id(),
        tail,
        kind,
        op.code,
        op.expires_at,
        op.reference,
        op.idempotency_key,
        content,
        at,
    )


def _single_written(params: tuple[Any, ...], found: tuple[Any, ...]) -> Transfer:
    """The transfer `ledger_transfer_one` wrote with `params`, from what it answered."""
    debit, credit, posted, pending, tid, _, kind, code, expires, reference, key, content, at = (
        params
    )
    _, _, lg, seq, prev, link = found
    return Transfer(
        id=tid,
        ledger=lg,
        chain_seq=seq,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=pending if kind == "pending" else posted,
        kind=kind,
        code=code,
        pending_id=None,
        expires_at=expires,
        reference=reference,
        idempotency_key=key,
        content_hash=content,
        created_at=at,
        prev_hash=prev,
        hash=link,
    )


def _single_postgresql(conn: Connection, op: NewTransfer, at: datetime) -> Transfer | None:
    """Make `op` in one round trip; None when it needs the general path: an idempotency key
    already used (a replay or a conflict, which that path tells apart), or an account whose
    latest entry is later than `at` (that path records the transfer at that instant)."""
    params = _single_params(op, at)
    if not conn.in_transaction():
        # BEGIN travels with the call (ledger/wire.py); the caller's commit must end it.
        conn.begin()
    found = call_single(conn.connection, params)
    if found[0]:
        return _single_written(params, found)
    # Nothing was written. A keyed transfer may be a replay or a conflict, which come before
    # any other refusal, and a late one is recorded later: the general path decides both.
    if op.idempotency_key is not None or found[1]:
        return None
    # The function still holds the locks it took, so this reads exactly what it saw.
    ids = sorted((op.debit_account_id, op.credit_account_id))
    _plan_new(op, 0, {r[0]: _Working.from_row(r) for r in _locked(conn, ids)}, at)
    raise errors.LedgerCorrupted("the ledger's SQL refused a transfer its code allows")


def apply_alone(engine: Engine, op: NewTransfer, *, at: datetime) -> Transfer:
    """`op` as a database transaction of its own, for a caller that has nothing else to do in
    one. On PostgreSQL one round trip: the call of `ledger_transfer_one` alone, which the
    server commits as a statement of its own, so no BEGIN and no COMMIT travel (the function
    is one statement, so it commits or writes nothing as a whole, exactly as in a transaction
    of its own). Whatever the function leaves to the general path (a used idempotency key, a
    late `at`, a refusal, whose locks are released by then) runs there in a transaction, so
    the answer is the one `transfer` gives."""
    _require_aware(at)
    _validate([op], at)
    if engine.dialect.name == "postgresql":
        made = _single_autocommit(engine, op, at)
        if made is not None:
            return made
    return run_transaction(engine, lambda conn: apply(conn, [op], at=at)[0])


def _single_autocommit(engine: Engine, op: NewTransfer, at: datetime) -> Transfer | None:
    params = _single_params(op, at)
    raw = engine.raw_connection()
    try:
        found = call_single(raw, params, alone=True)
    except DBAPIError as exc:
        raw.invalidate()  # whatever state it is in, the pool gets a new one
        raw.close()
        if getattr(exc.orig, "sqlstate", None) == "23505":
            return None  # an idempotency key used at the same moment: a replay or a conflict
        raise
    # The server has committed the call and the connection is idle: back to the pool with
    # nothing to roll back (SQLAlchemy's own `Connection.close` hands it back so after a
    # commit), not through a ROLLBACK the driver would find nothing to do for.
    raw._close_special(transaction_reset=True)
    return _single_written(params, found) if found[0] else None


def expire_due(conn: Connection, *, now: datetime, limit: int = 1000) -> list[Transfer]:
    """Expire up to `limit` holds whose timeout has passed. Safe to run again at any time."""
    _require_aware(now)
    resolution = transfers.alias("resolution")
    # In the order they fell due, so that under a backlog the earliest go first.
    due = conn.execute(
        select(transfers.c.id, transfers.c.ledger)
        .where(
            transfers.c.kind == "pending",
            transfers.c.expires_at <= now,
            ~select(resolution.c.id).where(resolution.c.pending_id == transfers.c.id).exists(),
        )
        .order_by(transfers.c.expires_at, transfers.c.id)
        .limit(limit)
    ).all()
    out: list[Transfer] = []
    by_ledger: dict[str, list[Operation]] = {}
    for r in due:
        by_ledger.setdefault(r.ledger, []).append(Resolve(pending_id=r.id, action="expire"))
    for ledger in sorted(by_ledger):
        out.extend(apply(conn, by_ledger[ledger], at=now))
    return out
