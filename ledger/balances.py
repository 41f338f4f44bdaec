"""Balances now and as of any past instant, per account and per owner, and account history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from ledger.amounts import ZERO
from ledger.bulk import fetch_rows
from ledger.lists import listed, one_of
from ledger.models import Balance, HistoryLine, Transfer
from ledger.postings import lock_and_read
from ledger.schema import accounts, closes, transfers
from ledger.types import Money, UTCDateTime

POSTING_KINDS = ("posted", "post_pending")


def balance(conn: Connection, account_id: str, *, as_of: datetime | None = None) -> Balance:
    """The account's balances; with `as_of`, as they stood at that instant (a hold resolved
    after `as_of` still counts as pending)."""
    return balances(conn, [account_id], as_of=as_of).get(account_id, Balance())


def balances(
    conn: Connection, account_ids: Sequence[str], *, as_of: datetime | None = None
) -> dict[str, Balance]:
    """The accounts' balances now, or as of an instant (`_as_of`)."""
    ids = list(account_ids)
    if not ids:
        return {}
    if as_of is not None:
        return _as_of(conn, ids, as_of)
    rows = conn.execute(select(accounts).where(one_of(conn, accounts.c.id, ids)))
    return {
        r.id: Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending)
        for r in rows
    }


def locked_balances(conn: Connection, account_ids: Sequence[str]) -> dict[str, Balance]:
    """The accounts' balances, locked as a writer locks them (in id order) until the caller's
    transaction ends: a decision taken from them stays true until it commits."""
    rows = lock_and_read(conn, account_ids)
    return {
        r.id: Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending)
        for r in rows
    }


_BEFORE_ALL = datetime(1, 1, 2, tzinfo=UTC)
_RESOLUTIONS = ("post_pending", "void_pending", "expire_pending")


def _as_of(conn: Connection, ids: list[str], as_of: datetime) -> dict[str, Balance]:
    """Balances at `as_of`, in one statement. An account with no entry after the instant (its
    `last_at`: time never runs backwards in an account) stood then as it stands now. Any
    other, at its latest close at or before the instant plus the entries after that close up
    to it — at most one day's entries (the first entry of each later day closes the day
    before). Index probes and a short range per account, whatever the history's length."""
    query = _as_of_query(conn.dialect.name == "postgresql")
    out = {i: Balance() for i in ids}
    for r in conn.execute(query, {"ids": ids, "as_of": as_of}):
        out[r[0]] = Balance(*(v if v is not None else ZERO for v in r[1:]))
    return out


@cache
def _as_of_query(postgresql: bool) -> Select[Any]:
    """The statement `_as_of` runs, built once: building it (a dozen aliases and their
    column proxies) and keying it for SQLAlchemy's cache cost three times its execution."""
    as_of = bindparam("as_of", type_=UTCDateTime())
    base = _close_bounds(listed(accounts.c.id, "ids", postgresql=postgresql), as_of)
    hold = transfers.alias("hold")
    m = Money()
    posted, pending = entry_changes(hold)
    zero = literal(0, m)

    def side(on: Any) -> Any:
        return transfers.join(base, on).outerjoin(hold, hold.c.id == transfers.c.pending_id)

    debit_side = and_(
        base.c.last_at > as_of,
        transfers.c.debit_account_id == base.c.id,
        transfers.c.chain_seq > base.c.lo_seq,
        transfers.c.chain_seq <= base.c.hi_seq,
    )
    # The debit side's instant is tested in the sum, not the WHERE: there the planner would
    # scan the whole credit index (on instant) for it and intersect, the history's length.
    until = transfers.c.created_at <= as_of
    credit_side = and_(
        base.c.last_at > as_of,
        transfers.c.credit_account_id == base.c.id,
        transfers.c.created_at > base.c.lo_at,
        transfers.c.created_at <= as_of,
    )
    parts = union_all(
        select(base.c.id, *(base.c[n] for n in _FIGURES)),
        select(
            base.c.id,
            case((until, posted), else_=zero),
            zero,
            case((until, pending), else_=zero),
            zero,
        ).select_from(side(debit_side)),
        select(base.c.id, zero, posted, zero, pending).select_from(side(credit_side)),
    ).subquery()
    cols = list(parts.c)
    return select(cols[0], *(func.sum(c, type_=m) for c in cols[1:])).group_by(cols[0])


def entry_changes(hold: Any) -> tuple[Any, Any]:
    """What a transfer adds to each of its sides' posted and pending figures: a hold adds
    pending, its resolution takes the hold's whole amount back off pending (and a post adds
    what it posts). `hold` is an alias of the transfers joined on `pending_id`."""
    m = Money()
    posted = case((transfers.c.kind.in_(POSTING_KINDS), transfers.c.amount), else_=literal(0, m))
    pending = case(
        (transfers.c.kind == "pending", transfers.c.amount),
        (transfers.c.kind.in_(_RESOLUTIONS), -hold.c.amount),
        else_=literal(0, m),
    )
    return posted, pending


def _close_bounds(ids: Any, as_of: Any) -> Any:
    """Per account: its instant `last_at`, its figures as of `as_of` if it has no entry after
    it, else those of its latest close at or before `as_of` (zeros when there is none); the
    instant and chain seq of that close (the beginning of time and 0 when there is none), and
    the chain seq of its next close (its chain head when there is none), beyond which no entry
    can be at or before `as_of`. The two instants are found first, one backward and one
    forward index probe per account, and kept (a CTE used twice is computed once), so the
    closes are then read by primary key: joined on a subquery instead, the planner hashes
    every close of the account."""
    m = Money()
    before = closes.alias("before")
    after = closes.alias("after")
    found = (
        select(
            accounts,
            select(func.max(before.c.closed_at))
            .where(before.c.account_id == accounts.c.id, before.c.closed_at <= as_of)
            .scalar_subquery()
            .label("lo_at"),
            select(func.min(after.c.closed_at))
            .where(after.c.account_id == accounts.c.id, after.c.closed_at > as_of)
            .scalar_subquery()
            .label("hi_at"),
        )
        .where(ids)
        .cte("found")
    )
    lo = closes.alias("lo")
    hi = closes.alias("hi")
    current = found.c.last_at <= as_of

    def figure(name: str) -> Any:
        then = type_coerce(func.coalesce(lo.c[name], 0), m)
        return case((current, found.c[name]), else_=then).label(name)

    return (
        select(
            found.c.id,
            found.c.last_at,
            func.coalesce(lo.c.closed_at, literal(_BEFORE_ALL, UTCDateTime())).label("lo_at"),
            func.coalesce(lo.c.last_seq, 0).label("lo_seq"),
            func.coalesce(hi.c.last_seq, found.c.last_seq).label("hi_seq"),
            *(figure(n) for n in _FIGURES),
        )
        .select_from(
            found.outerjoin(
                lo, and_(lo.c.account_id == found.c.id, lo.c.closed_at == found.c.lo_at)
            ).outerjoin(hi, and_(hi.c.account_id == found.c.id, hi.c.closed_at == found.c.hi_at))
        )
        .cte("base")
    )


_FIGURES = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


def _recomputed(conn: Connection, ids: list[str], as_of: datetime) -> dict[str, Balance]:
    """Balances summed from every transfer up to `as_of`: what `verify` checks against."""
    resolution = transfers.alias("resolution")
    open_hold = and_(
        transfers.c.kind == "pending",
        ~select(resolution.c.id)
        .where(resolution.c.pending_id == transfers.c.id, resolution.c.created_at <= as_of)
        .exists(),
    )
    posted = transfers.c.kind.in_(POSTING_KINDS)
    known = transfers.c.created_at <= as_of
    m = Money()
    sides = union_all(
        select(
            transfers.c.debit_account_id.label("account_id"),
            case((posted, transfers.c.amount), else_=literal(0, m)).label("dp"),
            literal(0, m).label("cp"),
            case((open_hold, transfers.c.amount), else_=literal(0, m)).label("dpend"),
            literal(0, m).label("cpend"),
        ).where(known, transfers.c.debit_account_id.in_(ids)),
        select(
            transfers.c.credit_account_id.label("account_id"),
            literal(0, m).label("dp"),
            case((posted, transfers.c.amount), else_=literal(0, m)).label("cp"),
            literal(0, m).label("dpend"),
            case((open_hold, transfers.c.amount), else_=literal(0, m)).label("cpend"),
        ).where(known, transfers.c.credit_account_id.in_(ids)),
    ).subquery()
    rows = conn.execute(
        select(
            sides.c.account_id,
            func.sum(sides.c.dp, type_=m),
            func.sum(sides.c.cp, type_=m),
            func.sum(sides.c.dpend, type_=m),
            func.sum(sides.c.cpend, type_=m),
        ).group_by(sides.c.account_id)
    )
    out = {i: Balance() for i in ids}
    for r in rows:
        out[r[0]] = Balance(*(v if v is not None else ZERO for v in r[1:]))
    return out


def owner_balances(
    conn: Connection,
    *,
    owner: str | None = None,
    ledger: str | None = None,
    as_of: datetime | None = None,
) -> dict[str, Balance]:
    """Balances summed per account kind over the accounts of an owner and/or a ledger."""
    stmt = select(accounts.c.id, accounts.c.kind)
    if owner is not None:
        stmt = stmt.where(accounts.c.owner == owner)
    if ledger is not None:
        stmt = stmt.where(accounts.c.ledger == ledger)
    kinds = {r.id: r.kind for r in conn.execute(stmt)}
    out: dict[str, Balance] = {}
    for account_id, bal in balances(conn, list(kinds), as_of=as_of).items():
        kind = kinds[account_id]
        out[kind] = out.get(kind, Balance()) + bal
    return out


def owned_accounts(conn: Connection, *, ledger: str, kind: str) -> dict[str, tuple[str, Balance]]:
    """Every account of one kind in a ledger, by owner: its id and its balances now, in one
    read (a wind-down's claims are every prepaid account of an institution)."""
    a = accounts.c
    rows = conn.execute(  # only what is returned: a whole row's instants cost more to read
        select(a.owner, a.id, a.debits_posted, a.credits_posted, a.debits_pending,
               a.credits_pending).where(a.ledger == ledger, a.kind == kind)
    )  # fmt: skip
    return {
        r.owner: (
            r.id,
            Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending),
        )
        for r in rows
    }


def kind_accounts(*kinds: str) -> Select[Any]:
    """A selectable of the accounts of these kinds with their posted balances, for callers
    to join with their own tables by natural key: columns `ledger`, `kind`, `owner`,
    `debit_balance` (what an asset holds) and `credit_balance` (what a liability owes)."""
    m = Money()
    debit = accounts.c.debits_posted - accounts.c.credits_posted
    return select(
        accounts.c.ledger,
        accounts.c.kind,
        accounts.c.owner,
        type_coerce(debit, m).label("debit_balance"),
        type_coerce(-debit, m).label("credit_balance"),
    ).where(accounts.c.kind.in_(kinds) if len(kinds) > 1 else accounts.c.kind == kinds[0])


def kind_balances(conn: Connection, ledgers: Sequence[str]) -> dict[str, dict[str, Balance]]:
    """Current balances summed per account kind, for many ledgers in one read: by ledger,
    then kind."""
    if not ledgers:
        return {}
    m = Money()
    rows = conn.execute(
        select(
            accounts.c.ledger,
            accounts.c.kind,
            func.sum(accounts.c.debits_posted, type_=m),
            func.sum(accounts.c.credits_posted, type_=m),
            func.sum(accounts.c.debits_pending, type_=m),
            func.sum(accounts.c.credits_pending, type_=m),
        )
        .where(one_of(conn, accounts.c.ledger, list(ledgers)))
        .group_by(accounts.c.ledger, accounts.c.kind)
    )
    out: dict[str, dict[str, Balance]] = {lg: {} for lg in ledgers}
    for lg, kind, *sums in rows:
        out[lg][kind] = Balance(*(v if v is not None else ZERO for v in sums))
    return out


def history(
    conn: Connection, account_id: str, *, as_of: datetime | None = None, limit: int = 1000
) -> list[HistoryLine]:
    """The posted transfers of an account in order, with the running credit balance."""
    stmt = (
        select(transfers)
        .where(
            transfers.c.kind.in_(POSTING_KINDS),
            or_(
                transfers.c.debit_account_id == account_id,
                transfers.c.credit_account_id == account_id,
            ),
        )
        .order_by(transfers.c.created_at, transfers.c.chain_seq)
        .limit(limit)
    )
    if as_of is not None:
        stmt = stmt.where(transfers.c.created_at <= as_of)
    running = ZERO
    lines = []
    for t in map(Transfer.from_row, conn.execute(stmt)):
        debit = t.amount if t.debit_account_id == account_id else ZERO
        credit = t.amount if t.credit_account_id == account_id else ZERO
        running += credit - debit
        lines.append(HistoryLine(t, debit, credit, running))
    return lines


def sum_transfers(
    conn: Connection,
    *,
    ledger: str,
    code: str,
    as_of: datetime | None = None,
) -> Decimal:
    """Total posted amount of one transfer code in a ledger (e.g. all releases paid out)."""
    stmt = select(func.sum(transfers.c.amount, type_=Money())).where(
        transfers.c.ledger == ledger,
        transfers.c.code == code,
        transfers.c.kind.in_(POSTING_KINDS),
    )
    if as_of is not None:
        stmt = stmt.where(transfers.c.created_at <= as_of)
    total = conn.execute(stmt).scalar()
    return total if total is not None else ZERO


def kind_credit_fen_as_of(
    conn: Connection, kind: str, *, as_of: datetime
) -> list[tuple[str, str, int]]:
    """(ledger, owner, credit balance in hundredths) of every account of one kind in every
    ledger as it stood at `as_of` (accounts opened after it left out), in one set-based read:
    what a day's snapshots of every parent's prepaid balance read. Integers, not Decimals:
    a million of them are read at once. An account not moved since `as_of` stood then as it
    stands now; the few moved since are looked up as of then."""
    if conn.dialect.name == "sqlite":  # money is integer hundredths there already
        owed: Any = accounts.c.credits_posted - accounts.c.debits_posted
    else:
        owed = cast((accounts.c.credits_posted - accounts.c.debits_posted) * 100, BigInteger)
    rows = fetch_rows(
        conn,
        select(
            accounts.c.ledger,
            accounts.c.owner,
            type_coerce(owed, BigInteger),
            accounts.c.id,
            accounts.c.last_at > as_of,
        ).where(accounts.c.kind == kind, accounts.c.created_at <= as_of),
    )
    moved = [r[3] for r in rows if r[4]]
    if not moved:
        return [(r[0], r[1], int(r[2])) for r in rows]
    held = balances(conn, moved, as_of=as_of)
    return [(r[0], r[1], int(held[r[3]].credit_balance * 100) if r[4] else int(r[2])) for r in rows]


def kind_balances_as_of(
    conn: Connection, ledgers: Sequence[str], kind: str, *, as_of: datetime
) -> dict[str, dict[str, Balance]]:
    """The balances of every account of one kind in these ledgers as they stood at `as_of`
    (accounts opened after it left out): by ledger, then owner. What a day's snapshot of
    every parent's prepaid balance reads, in one statement per call."""
    if not ledgers:
        return {}
    rows = conn.execute(
        select(accounts).where(
            one_of(conn, accounts.c.ledger, list(ledgers)),
            accounts.c.kind == kind,
            accounts.c.created_at <= as_of,
        )
    ).all()
    # An account with no entry after the instant stood then as it stands now (time never
    # runs backwards in an account): only those moved since are looked up as of then —
    # the few touched since midnight, for a snapshot taken the next morning.
    moved = [r.id for r in rows if r.last_at > as_of]
    held = balances(conn, moved, as_of=as_of)
    out: dict[str, dict[str, Balance]] = {lg: {} for lg in ledgers}
    for r in rows:
        out[r.ledger][r.owner] = (
            held[r.id]
            if r.last_at > as_of
            else Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending)
        )
    return out
