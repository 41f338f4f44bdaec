"""The day's publication (docs/proofs.md): each institution's liabilities to parents at the end
of a Beijing day committed in a sum tree and stored with its salts, the custody bank's closing
balance of that day beside it, every root and the ledger's anchor of that day appended to the
public log, and the checkpoint signed. Run once a day after midnight by the `proof_publish`
job; a re-run for a day already published adds nothing."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

import ledger
from service.config import Settings
from service.flows.models import Consumption, Statement
from service.kit.clock import SHANGHAI
from service.kit.db import Base
from service.proofs.build import Built, build_many, copy_rows
from service.proofs.entropy import Entropy, SystemEntropy
from service.proofs.models import LogEntry, ProofParent, ProofSnapshot
from service.proofs.publog import PublicLog, sign_checkpoint
from service.proofs.signing import anchor_entry, liabilities_entry_of
from service.proofs.snapshot import Snapshot, build_snapshot
from service.registry.models import Institution
from tgproof.proof import yuan

BATCH = 200  # institutions built and stored per round
POOL_MIN_BATCHES = 4  # fewer are built in this process: a pool takes seconds to start


def day_end(day: date) -> datetime:
    """The last instant of a Beijing day (24:00 belongs to the next)."""
    start_next = datetime.combine(day + timedelta(days=1), time(0), tzinfo=SHANGHAI)
    return start_next - timedelta(microseconds=1)


def day_before(at: datetime) -> date:
    """The Beijing day that ended most recently before `at`."""
    return at.astimezone(SHANGHAI).date() - timedelta(days=1)


def fen(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


def liabilities(session: Session, end: datetime) -> dict[str, list[tuple[str, int]]]:
    """What each institution owed each parent at `end`, in fen, sorted by enrollment, read
    for every institution at once: the prepaid balance (lessons not delivered, and money
    reserved for a refund not yet paid: a refund is a hold until the bank pays), plus lessons
    the parent disputed that were still under dispute."""
    owed: dict[str, dict[str, int]] = {}
    for inst, enrollment, amount in ledger.kind_credit_fen_as_of(
        session.connection(), "prepaid", as_of=end
    ):
        owed.setdefault(inst, {})[enrollment] = amount
    disputed = session.execute(
        select(Consumption.institution_id, Consumption.enrollment_id, func.sum(Consumption.amount))
        .where(Consumption.status == "disputed", Consumption.disputed_at <= end)
        .group_by(Consumption.institution_id, Consumption.enrollment_id)
    )  # fmt: skip
    for inst, enrollment, amount in disputed:
        by = owed.setdefault(inst, {})
        by[enrollment] = by.get(enrollment, 0) + fen(Decimal(amount))
    return {i: sorted((e, a) for e, a in by.items() if a > 0) for i, by in owed.items()}


def attested(session: Session, day: date) -> dict[str, tuple[Decimal, str]]:
    """Each escrow account's closing balance on its bank's statement of `day` (the latest
    received, if the bank sent it again), with the statement's id, for every institution."""
    rows = session.execute(
        select(Statement.institution_id, Statement.closing_balance, Statement.id)
        .join(Institution, Institution.id == Statement.institution_id)
        .where(Statement.account_no == Institution.escrow_account_no,
               Statement.statement_date == day.isoformat())
        .order_by(Statement.received_at)
    )  # fmt: skip
    return {inst: (Decimal(balance), sid) for inst, balance, sid in rows}


def tree_bytes(snapshot: Snapshot) -> bytes:
    """Every level, leaves first, each node its hash and u64be sum."""
    return b"".join(n.hash + n.sum.to_bytes(8, "big") for level in snapshot.levels for n in level)


def built_of(snapshot: Snapshot) -> Built:
    """A snapshot made by `build_snapshot` (any `Entropy`: the seeded one of the tests) in
    the form the publication stores."""
    parents = []
    for enrollment_id, (i, j) in snapshot.where.items():
        a, b = snapshot.leaves[i], snapshot.leaves[j]
        if a.part == 1:
            (i, a), (j, b) = (j, b), (i, a)
        assert a.salt is not None and b.salt is not None
        parents.append((enrollment_id, i, a.salt, a.amount, j, b.salt, b.amount))
    return Built(snapshot_id=snapshot.snapshot_id, root=snapshot.root.hash,
                 total=snapshot.root.sum, leaf_count=snapshot.leaf_count,
                 tree=tree_bytes(snapshot), parents=parents)  # fmt: skip


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
    entropy: Entropy | None = None, workers: int | None = None,
) -> Published:  # fmt: skip
    """Snapshots of every institution open at the end of `day` not yet published for it, the
    ledger's anchor of that day, all appended to the log, and the checkpoint signed. The
    trees are built by `workers` processes (every core, by default) when there are many;
    with a given `entropy` (the tests' seeded one) in this process, by `build_snapshot`."""
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
    owed = liabilities(session, end)
    banks = attested(session, day)
    work = [[(f"{i}/{day.isoformat()}", owed.get(i, [])) for i in todo[k : k + BATCH]]
            for k in range(0, len(todo), BATCH)]  # fmt: skip
    made = 0
    for batch in _built(work, entropy, workers):
        made += _store(session, public, batch, banks, day, now)
    anchored = _anchor(session, public, day, now)
    checkpoint = sign_checkpoint(session, settings, now=now)
    return Published(day=day, snapshots=made, anchored=anchored, log_size=public.size(),
                     checkpoint_size=checkpoint.size)  # fmt: skip


def _built(
    work: list[list[tuple[str, list[tuple[str, int]]]]], entropy: Entropy | None,
    workers: int | None,
) -> Iterator[list[Built]]:  # fmt: skip
    """Each batch's snapshots, in order: in a pool of processes when there are several
    batches and cores (at most two batches ahead of what has been stored, so that the trees
    do not pile up in memory), else here."""
    if entropy is not None and not isinstance(entropy, SystemEntropy):
        for batch in work:
            yield [built_of(build_snapshot(sid, owed, entropy)) for sid, owed in batch]
        return
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers < 2 or len(work) < POOL_MIN_BATCHES:
        yield from (build_many(batch) for batch in work)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        ahead: deque[Future[list[Built]]] = deque()
        for batch in work:
            ahead.append(pool.submit(build_many, batch))
            if len(ahead) > workers + 1:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def _store(
    session: Session, public: PublicLog, batch: list[Built], banks: dict[str, tuple[Decimal, str]],
    day: date, now: datetime,
) -> int:  # fmt: skip
    """A batch of snapshots appended to the log and stored with their trees and salts."""
    first = public.size()
    entries: list[tuple[str, str, bytes]] = []
    snapshots: list[tuple[object, ...]] = []
    for offset, b in enumerate(batch):
        inst = b.snapshot_id.rpartition("/")[0]
        balance, statement_id = banks.get(inst, (None, None))
        entries.append(("liabilities", day.isoformat(), liabilities_entry_of(
            b.snapshot_id, inst, day.isoformat(), leaf_count=b.leaf_count, root=b.root,
            total=b.total, attested_balance=None if balance is None else yuan(fen(balance)),
            statement_id=statement_id)))  # fmt: skip
        snapshots.append((b.snapshot_id, inst, day.isoformat(), b.root.hex(),
                          Decimal(yuan(b.total)), b.leaf_count, len(b.parents), balance,
                          statement_id, first + offset, now, b.tree))  # fmt: skip
    public.append(entries, now=now)
    _copy(session, ProofSnapshot, SNAPSHOT_COLUMNS, snapshots)
    if session.connection().dialect.name == "postgresql":  # encoded by the builders
        chunks = [b.copy or copy_rows(b.snapshot_id, b.parents) for b in batch]
        ledger.copy_binary(session.connection(), "proof_parents", PARENT_COLUMNS, chunks)
    else:
        _copy(session, ProofParent, PARENT_COLUMNS,
              [(b.snapshot_id, *p) for b in batch for p in b.parents])  # fmt: skip
    return len(batch)


SNAPSHOT_COLUMNS = ("id", "institution_id", "day", "root", "total", "leaf_count",
                    "enrollments", "attested_balance", "statement_id", "log_index", "created_at",
                    "tree")  # fmt: skip
PARENT_COLUMNS = ("snapshot_id", "enrollment_id", "index0", "salt0", "amount0", "index1",
                  "salt1", "amount1")  # fmt: skip


def _copy(session: Session, model: type[Base], columns: tuple[str, ...],
          rows: list[tuple[object, ...]]) -> None:  # fmt: skip
    """Rows in `columns`' order: COPY on PostgreSQL, one executemany on SQLite."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    assert tuple(c.name for c in table.columns) == columns, "the columns as the model has them"
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        ledger.copy_rows(conn, table, rows)
    else:
        session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


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
