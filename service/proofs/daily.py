"""The day's publication (docs/proofs.md): each institution's liabilities to parents at the end
of a Beijing day committed in a sum tree and stored with its salts, the custody bank's closing
balance of that day beside it, every root and the ledger's anchor of that day appended to the
public log, and the checkpoint signed. Run once a day after midnight by the `proof_publish`
job; a re-run for a day already published adds nothing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

import ledger
from ledger.bulk import COPY_FROM
from service.config import Settings
from service.flows.models import Consumption, Statement
from service.kit.clock import SHANGHAI
from service.proofs.entropy import Entropy, SystemEntropy
from service.proofs.models import LogEntry, ProofParent, ProofSnapshot
from service.proofs.publog import PublicLog, sign_checkpoint
from service.proofs.signing import anchor_entry, liabilities_entry
from service.proofs.snapshot import Snapshot, build_snapshot
from service.registry.models import Institution
from tgproof.proof import yuan

BATCH = 200  # institutions read and built per round


def day_end(day: date) -> datetime:
    """The last instant of a Beijing day (24:00 belongs to the next)."""
    start_next = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return start_next - timedelta(microseconds=1)


def day_before(at: datetime) -> date:
    """The Beijing day that ended most recently before `at`."""
    return at.astimezone(SHANGHAI).date() - timedelta(days=1)


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def liabilities(
    session: Session, institution_ids: Sequence[str], end: datetime
) -> dict[str, list[tuple[str, int]]]:
    """What each institution owed each parent at `end`, in fen: the prepaid balance (lessons
    not delivered, and money reserved for a refund not yet paid: a refund is a hold until the
    bank pays), plus lessons the parent disputed that were still under dispute."""
    conn = session.connection()
    held = ledger.kind_balances_as_of(conn, institution_ids, "prepaid", as_of=end)
    owed: dict[str, dict[str, Decimal]] = {
        i: {e: b.credit_balance for e, b in by.items()} for i, by in held.items()
    }
    disputed = session.execute(
        select(Consumption.institution_id, Consumption.enrollment_id, func.sum(Consumption.amount))
        .where(Consumption.institution_id.in_(list(institution_ids)),
               Consumption.status == "disputed", Consumption.disputed_at <= end)
        .group_by(Consumption.institution_id, Consumption.enrollment_id)
    )  # fmt: skip
    for inst, enrollment, amount in disputed:
        by = owed.setdefault(inst, {})
        by[enrollment] = by.get(enrollment, Decimal(0)) + Decimal(amount)
    return {i: sorted((e, fen(a)) for e, a in by.items() if a > 0) for i, by in owed.items()}


def attested(
    session: Session, institution_ids: Sequence[str], day: date
) -> dict[str, tuple[Decimal, str]]:
    """Each escrow account's closing balance on its bank's statement of `day` (the latest
    received, if the bank sent it again), with the statement's id."""
    rows = session.execute(
        select(Statement.institution_id, Statement.closing_balance, Statement.id)
        .join(Institution, Institution.id == Statement.institution_id)
        .where(Statement.institution_id.in_(list(institution_ids)),
               Statement.account_no == Institution.escrow_account_no,
               Statement.statement_date == day.isoformat())
        .order_by(Statement.received_at)
    )  # fmt: skip
    return {inst: (Decimal(balance), sid) for inst, balance, sid in rows}


def tree_bytes(snapshot: Snapshot) -> bytes:
    """Every level, leaves first, each node its hash and u64be sum."""
    return b"".join(n.hash + n.sum.to_bytes(8, "big") for level in snapshot.levels for n in level)


def parent_rows(snapshot: Snapshot) -> Iterable[dict[str, Any]]:
    for enrollment_id, (i, j) in snapshot.where.items():
        a, b = snapshot.leaves[i], snapshot.leaves[j]
        if a.part == 1:
            (i, a), (j, b) = (j, b), (i, a)
        yield {"snapshot_id": snapshot.snapshot_id, "enrollment_id": enrollment_id,
               "index0": i, "salt0": a.salt, "amount0": a.amount,
               "index1": j, "salt1": b.salt, "amount1": b.amount}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    day: date
    snapshots: int
    anchored: bool
    log_size: int
    checkpoint_size: int

    def summary(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "snapshots": self.snapshots,
                "anchored": self.anchored, "log_size": self.log_size,
                "checkpoint_size": self.checkpoint_size}  # fmt: skip


def publish_day(
    session: Session, settings: Settings, *, day: date, now: datetime,
    entropy: Entropy | None = None,
) -> Published:  # fmt: skip
    """Snapshots of every institution open at the end of `day` not yet published for it, the
    ledger's anchor of that day, all appended to the log, and the checkpoint signed."""
    entropy = entropy or SystemEntropy()
    end = day_end(day)
    public = PublicLog(session)
    public.lock()
    done = set(session.scalars(select(ProofSnapshot.institution_id).where(
        ProofSnapshot.day == day.isoformat())))  # fmt: skip
    todo = [
        i for i in session.scalars(
            select(Institution.id).where(Institution.created_at <= end).order_by(Institution.id))
        if i not in done
    ]  # fmt: skip
    made = 0
    for start in range(0, len(todo), BATCH):
        made += _publish_batch(session, public, todo[start : start + BATCH], day, now, entropy)
    anchored = _anchor(session, public, day, now)
    checkpoint = sign_checkpoint(session, settings, now=now)
    return Published(day=day, snapshots=made, anchored=anchored, log_size=public.size(),
                     checkpoint_size=checkpoint.size)  # fmt: skip


def _publish_batch(
    session: Session, public: PublicLog, ids: list[str], day: date, now: datetime,
    entropy: Entropy,
) -> int:  # fmt: skip
    owed = liabilities(session, ids, day_end(day))
    banks = attested(session, ids, day)
    first = public.size()
    entries: list[tuple[str, str, bytes]] = []
    snapshots: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    for offset, inst in enumerate(ids):
        snapshot = build_snapshot(f"{inst}/{day.isoformat()}", owed.get(inst, []), entropy)
        balance, statement_id = banks.get(inst, (None, None))
        entries.append(("liabilities", day.isoformat(), liabilities_entry(
            snapshot, inst, day.isoformat(),
            attested_balance=None if balance is None else yuan(fen(balance)),
            statement_id=statement_id)))  # fmt: skip
        snapshots.append({
            "id": snapshot.snapshot_id, "institution_id": inst, "day": day.isoformat(),
            "root": snapshot.root.hash.hex(), "total": Decimal(snapshot.root.sum) / 100,
            "leaf_count": snapshot.leaf_count, "enrollments": len(snapshot.where),
            "attested_balance": balance, "statement_id": statement_id,
            "log_index": first + offset, "created_at": now, "tree": tree_bytes(snapshot),
        })  # fmt: skip
        parents.extend(parent_rows(snapshot))
    public.append(entries, now=now)
    session.execute(insert(ProofSnapshot), snapshots)
    _insert_parents(session, parents)
    return len(snapshots)


def _insert_parents(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    conn = session.connection()
    table = ProofParent.__table__
    assert isinstance(table, Table)
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM:
        cols = [c.name for c in table.columns]
        ledger.copy_rows(conn, table, ([r[c] for c in cols] for r in rows))
    else:
        session.execute(insert(ProofParent), rows)


def _anchor(session: Session, public: PublicLog, day: date, now: datetime) -> bool:
    """The ledger's anchor of `day` (every account's chain head at its end), unless logged."""
    logged = session.scalar(
        select(LogEntry.idx).where(
            LogEntry.kind == "ledger_anchor", LogEntry.day == day.isoformat()
        )
    )
    if logged is not None:
        return False
    heads = ledger.chain_heads_at_day_end(session.connection(), day_end=day_end(day))
    digest = bytes.fromhex(ledger.anchor_digest(heads))
    entry = anchor_entry(day.isoformat(), len(heads), digest)
    public.append([("ledger_anchor", day.isoformat(), entry)], now=now)
    return True
