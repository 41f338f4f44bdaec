"""`verify` recomputes everything the ledger stores from first principles; `trial_balance` sums
both sides. Both read only."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import groupby
from typing import Any

from sqlalchemy import Connection, Select, and_, func, literal, select, tuple_, union_all

from ledger.amounts import ZERO
from ledger.balances import _recomputed, entry_changes
from ledger.bulk import fetch_rows
from ledger.chain import link_hash
from ledger.models import Balance, Transfer
from ledger.schema import GENESIS_HASH, accounts, closes, transfers
from ledger.types import Money

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)


@dataclass(frozen=True)
class Problem:
    # chain_gap, bad_link, bad_hash, time_regressed, bad_sides, bad_resolution,
    # balance_differs, close_differs, head, anchor_missing, anchor_differs
    kind: str
    subject: str  # a transfer id or an account id
    detail: str


@dataclass
class VerifyReport:
    ok: bool = True
    entries_checked: int = 0
    accounts_checked: int = 0
    first_bad_entry: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def fail(self, kind: str, subject: str, detail: str) -> None:
        if self.ok:
            self.first_bad_entry = subject
        self.ok = False
        if len(self.problems) < 100:
            self.problems.append(Problem(kind, subject, detail))


def chain_heads(
    conn: Connection, *, ledgers: Sequence[str] | None = None
) -> dict[str, tuple[int, str]]:
    """Every account's chain head, (last_seq, last_hash): what an anchor writes down."""
    stmt = select(accounts.c.id, accounts.c.last_seq, accounts.c.last_hash)
    if ledgers is not None:
        stmt = stmt.where(accounts.c.ledger.in_(list(ledgers)))
    return {r.id: (r.last_seq, r.last_hash) for r in conn.execute(stmt)}


def anchor_digest(heads: Mapping[str, tuple[int, str]]) -> str:
    """One SHA-256 over a set of chain heads: the figure to publish or hand to the regulator."""
    lines = "".join(f"{a}\x1f{seq}\x1f{link}\n" for a, (seq, link) in sorted(heads.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def verify(
    conn: Connection,
    *,
    ledgers: Sequence[str] | None = None,
    anchor: Mapping[str, tuple[int, str]] | None = None,
) -> VerifyReport:
    """Check every chain link and hash, both sides of every transfer, every hold's resolution,
    and that every stored balance equals the sum of its transfers. With an `anchor` (chain
    heads written down earlier, outside the database), also check that every anchored link is
    still in its chain unchanged: the chain alone cannot see history rewritten together with
    every later hash and head, the anchor can."""
    report = VerifyReport()
    account_stmt = select(
        accounts.c.id, accounts.c.ledger, accounts.c.last_seq, accounts.c.last_hash
    ).order_by(accounts.c.id)
    transfer_stmt = select(transfers).order_by(transfers.c.debit_account_id, transfers.c.chain_seq)
    if ledgers is not None:
        account_stmt = account_stmt.where(accounts.c.ledger.in_(list(ledgers)))
        transfer_stmt = transfer_stmt.where(transfers.c.ledger.in_(list(ledgers)))
    rows = conn.execute(account_stmt).all()
    heads = {r.id: (r.last_seq, r.last_hash) for r in rows}
    owner_ledger = {r.id: r.ledger for r in rows}
    walked = _walk_chains(conn, transfer_stmt, owner_ledger, report)
    for account_id, head in heads.items():
        if walked.get(account_id, (0, GENESIS_HASH)) != head:
            report.fail(
                "head", account_id, f"{account_id}: chain head does not match its last transfer"
            )
    _check_balances(conn, list(owner_ledger), report)
    _check_closes(conn, list(owner_ledger), report)
    if anchor is not None:
        _check_anchor(conn, anchor, report)
    return report


def _check_anchor(
    conn: Connection, anchor: Mapping[str, tuple[int, str]], report: VerifyReport
) -> None:
    wanted = sorted((a, seq) for a, (seq, _) in anchor.items() if seq > 0)
    found: dict[tuple[str, int], str] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = conn.execute(
            select(transfers.c.debit_account_id, transfers.c.chain_seq, transfers.c.hash).where(
                tuple_(transfers.c.debit_account_id, transfers.c.chain_seq).in_(chunk)
            )
        )
        found.update({(r.debit_account_id, r.chain_seq): r.hash for r in rows})
    for account_id, seq in wanted:
        link = found.get((account_id, seq))
        if link is None:
            report.fail("anchor_missing", account_id, f"{account_id}: anchored link {seq} is gone")
        elif link != anchor[account_id][1]:
            report.fail(
                "anchor_differs", account_id, f"{account_id}: link {seq} differs from the anchor"
            )


def _walk_chains(
    conn: Connection, stmt: Select[Any], owner_ledger: dict[str, str], report: VerifyReport
) -> dict[str, tuple[int, str]]:
    """Walk each debit account's chain in order; return where each chain ended."""
    ends: dict[str, tuple[int, str]] = {}
    holds: dict[str, Transfer] = {}
    account, prev_hash, expected_seq, prev_at = "", GENESIS_HASH, 1, _FAR_PAST
    for t in map(Transfer.from_row, conn.execution_options(yield_per=5000).execute(stmt)):
        if t.debit_account_id != account:
            account, prev_hash, expected_seq, prev_at = (
                t.debit_account_id,
                GENESIS_HASH,
                1,
                _FAR_PAST,
            )
        report.entries_checked += 1
        if t.created_at < prev_at:
            report.fail("time_regressed", t.id, f"{account}: link {t.chain_seq} predates the last")
        if t.chain_seq != expected_seq:
            report.fail(
                "chain_gap", t.id, f"{account}: expected link {expected_seq}, found {t.chain_seq}"
            )
        if t.prev_hash != prev_hash:
            report.fail(
                "bad_link", t.id, f"{account}: link {t.chain_seq} does not follow its predecessor"
            )
        fields = {k: getattr(t, k) for k in Transfer.__dataclass_fields__ if k != "hash"}
        if link_hash(**fields) != t.hash:
            report.fail("bad_hash", t.id, f"transfer {t.id} does not match its hash")
        _check_sides(t, owner_ledger, holds, report)
        if t.kind == "pending":
            holds[t.id] = t
        prev_hash, expected_seq, prev_at = t.hash, t.chain_seq + 1, t.created_at
        ends[account] = (t.chain_seq, t.hash)
    return ends


def _check_sides(
    t: Transfer, owner_ledger: dict[str, str], holds: dict[str, Transfer], report: VerifyReport
) -> None:
    if (
        t.amount <= ZERO
        or t.debit_account_id == t.credit_account_id
        or owner_ledger.get(t.debit_account_id) != t.ledger
        or owner_ledger.get(t.credit_account_id) != t.ledger
    ):
        report.fail("bad_sides", t.id, f"transfer {t.id} does not have two sides in its ledger")
    if t.pending_id is None:
        return
    hold = holds.pop(t.pending_id, None)
    if (
        hold is None
        or hold.debit_account_id != t.debit_account_id
        or hold.credit_account_id != t.credit_account_id
        or t.amount > hold.amount
        or (t.kind != "post_pending" and t.amount != hold.amount)
        or t.created_at < hold.created_at
    ):
        report.fail("bad_resolution", t.id, f"transfer {t.id} does not resolve its hold")


def _check_balances(conn: Connection, account_ids: list[str], report: VerifyReport) -> None:
    stored = {
        r.id: Balance(r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending)
        for r in conn.execute(select(accounts).where(accounts.c.id.in_(account_ids)))
    }
    for start in range(0, len(account_ids), 5000):
        chunk = account_ids[start : start + 5000]
        for account_id, computed in _recomputed(conn, chunk, _FAR_FUTURE).items():
            report.accounts_checked += 1
            if stored[account_id] != computed:
                report.fail(
                    "balance_differs",
                    account_id,
                    f"account {account_id} stores {stored[account_id]} but its transfers "
                    f"sum to {computed}",
                )


def _check_closes(conn: Connection, account_ids: list[str], report: VerifyReport) -> None:
    """Every day's close equals the running sum of its account's entries up to its instant,
    and its chain seq the debit chain's length then: a close changed (or made up) behind the
    ledger's back would misstate every past balance read from it."""
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start : start + 500]
        kept: dict[str, list[Any]] = {}
        for c in conn.execute(
            select(closes).where(closes.c.account_id.in_(chunk)).order_by(closes.c.closed_at)
        ):
            kept.setdefault(c.account_id, []).append(c)
        entries = conn.execution_options(yield_per=5000).execute(_entry_sides(chunk))
        for account_id, rows in groupby(entries, key=lambda e: e.account_id):
            _walk_closes(account_id, kept.pop(account_id, []), rows, report)
        for account_id, left in kept.items():
            _walk_closes(account_id, left, iter(()), report)


def _entry_sides(ids: list[str]) -> Select[Any]:
    """Each transfer once per side among `ids`: account, instant, debit seq and the change to
    (debits posted, credits posted, debits pending, credits pending), by account and instant."""
    hold = transfers.alias("hold")
    posted, pending = entry_changes(hold)
    zero = literal(0, Money())
    joined = transfers.outerjoin(hold, hold.c.id == transfers.c.pending_id)
    sides = union_all(
        select(
            transfers.c.debit_account_id.label("account_id"),
            transfers.c.created_at.label("at"),
            transfers.c.chain_seq.label("seq"),
            posted.label("dp"),
            zero.label("cp"),
            pending.label("dpend"),
            zero.label("cpend"),
        )
        .select_from(joined)
        .where(transfers.c.debit_account_id.in_(ids)),
        select(
            transfers.c.credit_account_id,
            transfers.c.created_at,
            literal(0),
            zero,
            posted,
            zero,
            pending,
        )
        .select_from(joined)
        .where(transfers.c.credit_account_id.in_(ids)),
    ).subquery()
    return select(sides).order_by(sides.c.account_id, sides.c.at)


def _walk_closes(
    account_id: str, kept: list[Any], entries: Iterator[Any], report: VerifyReport
) -> None:
    figures = [ZERO, ZERO, ZERO, ZERO]
    seq = 0
    entry = next(entries, None)
    for c in kept:
        while entry is not None and entry.at <= c.closed_at:
            change = (entry.dp, entry.cp, entry.dpend, entry.cpend)
            figures = [f + d for f, d in zip(figures, change, strict=True)]
            seq = max(seq, entry.seq)
            entry = next(entries, None)
        stored = [c.debits_posted, c.credits_posted, c.debits_pending, c.credits_pending]
        if stored != figures or c.last_seq != seq:
            report.fail(
                "close_differs",
                account_id,
                f"account {account_id}: its close at {c.closed_at.isoformat()} does not match "
                "its entries",
            )


@dataclass(frozen=True)
class TrialBalance:
    total_debits: Decimal
    total_credits: Decimal
    pending_debits: Decimal
    pending_credits: Decimal

    @property
    def balanced(self) -> bool:
        return (
            self.total_debits == self.total_credits and self.pending_debits == self.pending_credits
        )


def trial_balance(conn: Connection, *, ledgers: Sequence[str] | None = None) -> TrialBalance:
    """Sum every account's posted and pending debits and credits over the ledgers in scope."""
    m = Money()
    stmt = select(
        func.sum(accounts.c.debits_posted, type_=m),
        func.sum(accounts.c.credits_posted, type_=m),
        func.sum(accounts.c.debits_pending, type_=m),
        func.sum(accounts.c.credits_pending, type_=m),
    )
    if ledgers is not None:
        stmt = stmt.where(accounts.c.ledger.in_(list(ledgers)))
    row = conn.execute(stmt).one()
    return TrialBalance(*(v if v is not None else ZERO for v in row))


def chain_heads_at_day_end(
    conn: Connection, *, day_end: datetime, ledgers: Sequence[str] | None = None
) -> dict[str, tuple[int, str]]:
    """Every account's chain head at `day_end`, the last instant of a Beijing day, for the
    accounts opened by then: the head now if nothing came after, else the head its close of
    that day (or of its last earlier day with entries) wrote down — a later day's first entry
    writes the close of the account's last day before it, so no entry lies between that close
    and the day's end."""
    # Compared in the database: a million accounts' times are not made into datetimes here.
    stmt = select(
        accounts.c.id, accounts.c.last_seq, accounts.c.last_hash, accounts.c.last_at > day_end
    )
    stmt = stmt.where(accounts.c.created_at <= day_end)
    if ledgers is not None:
        stmt = stmt.where(accounts.c.ledger.in_(list(ledgers)))
    rows = fetch_rows(conn, stmt)
    heads = {r[0]: (r[1], r[2]) for r in rows if not r[3]}
    later = [r[0] for r in rows if r[3]]
    for start in range(0, len(later), 1000):
        chunk = later[start : start + 1000]
        latest = (
            select(closes.c.account_id, func.max(closes.c.closed_at).label("at"))
            .where(closes.c.account_id.in_(chunk), closes.c.closed_at <= day_end)
            .group_by(closes.c.account_id)
            .subquery()
        )
        seqs = {
            r.account_id: r.last_seq
            for r in conn.execute(
                select(closes.c.account_id, closes.c.last_seq).join(
                    latest,
                    and_(closes.c.account_id == latest.c.account_id,
                         closes.c.closed_at == latest.c.at),
                )
            )
        }  # fmt: skip
        wanted = [(a, s) for a, s in seqs.items() if s > 0]
        links: dict[tuple[str, int], str] = {}
        if wanted:
            found = conn.execute(
                select(transfers.c.debit_account_id, transfers.c.chain_seq, transfers.c.hash).where(
                    tuple_(transfers.c.debit_account_id, transfers.c.chain_seq).in_(wanted)
                )
            )
            links = {(r[0], r[1]): r[2] for r in found}
        for account_id in chunk:
            seq = seqs.get(account_id, 0)
            heads[account_id] = (seq, links[(account_id, seq)] if seq else GENESIS_HASH)
    return heads
