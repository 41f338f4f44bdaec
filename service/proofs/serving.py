"""What the proofs' endpoints and pages read: an institution's published liabilities of a day,
a parent's proof (docs/proofs.md §3) with its path read from the stored tree, and the log's
entries, proofs and checkpoints. Refusals are `DomainError`s, as every read's."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ledger.types import Money
from service.config import Settings
from service.errors import DomainError
from service.proofs import keys as log_keys
from service.proofs.models import Checkpoint, ProofSnapshot
from service.proofs.publog import (
    CHECKPOINT_TTL,
    MAX_PARTS,
    NEWEST,
    PARTS,
    Counted,
    PublicLog,
    kept_for,
    latest_checkpoint,
)
from tgproof.proof import yuan

NODE = 40  # bytes per stored node: hash || u64be sum
MAX_ENTRIES = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Liabilities:
    snapshot_id: str
    institution_id: str
    date: str
    root: str
    total: Decimal
    leaf_count: int
    enrollments: int
    attested_balance: Decimal | None
    statement_id: str | None
    log_index: int

    @property
    def coverage(self) -> Decimal | None:
        """The bank's closing balance over what is owed to parents (1.0000: all of it)."""
        if self.attested_balance is None or not self.total:
            return None
        return (self.attested_balance / self.total).quantize(Decimal("0.0001"))

    @classmethod
    def of(cls, s: ProofSnapshot) -> Liabilities:
        return cls(snapshot_id=s.id, institution_id=s.institution_id, date=s.day, root=s.root,
                   total=s.total, leaf_count=s.leaf_count, enrollments=s.enrollments,
                   attested_balance=s.attested_balance, statement_id=s.statement_id,
                   log_index=s.log_index)  # fmt: skip


def liabilities(session: Session, institution_id: str, day: date | None) -> Liabilities:
    """The institution's published snapshot of `day` (the latest when none is named)."""
    cols = [c for c in ProofSnapshot.__table__.columns if c.name != "tree"]
    stmt = select(*cols).where(ProofSnapshot.institution_id == institution_id)
    stmt = (stmt.where(ProofSnapshot.day == day.isoformat()) if day
            else stmt.order_by(ProofSnapshot.day.desc()).limit(1))  # fmt: skip
    row = session.execute(stmt).first()
    if row is None:
        raise DomainError("not_found", "no liabilities published for that institution and day")
    return Liabilities(snapshot_id=row.id, institution_id=row.institution_id, date=row.day,
                       root=row.root, total=row.total, leaf_count=row.leaf_count,
                       enrollments=row.enrollments, attested_balance=row.attested_balance,
                       statement_id=row.statement_id, log_index=row.log_index)  # fmt: skip


def history(session: Session, institution_id: str, limit: int = 60) -> list[Liabilities]:
    cols = [c for c in ProofSnapshot.__table__.columns if c.name != "tree"]
    rows = session.execute(
        select(*cols).where(ProofSnapshot.institution_id == institution_id)
        .order_by(ProofSnapshot.day.desc()).limit(limit)
    )  # fmt: skip
    return [
        Liabilities(snapshot_id=r.id, institution_id=r.institution_id, date=r.day, root=r.root,
                    total=r.total, leaf_count=r.leaf_count, enrollments=r.enrollments,
                    attested_balance=r.attested_balance, statement_id=r.statement_id,
                    log_index=r.log_index)
        for r in rows
    ]  # fmt: skip


def _level_starts(leaf_count: int) -> list[int]:
    starts, offset, width = [], 0, leaf_count
    while width >= 1:
        starts.append(offset)
        offset += width
        width //= 2
    return starts


def _paths(session: Session, snapshot_id: str, leaf_count: int, indexes: list[int]) -> list[Any]:
    """Each leaf's path (its sibling at every height), as slices of the stored tree in one
    statement: the database reads the few pages that hold them, not the whole tree."""
    starts = _level_starts(leaf_count)
    height = leaf_count.bit_length() - 1
    cols = [
        func.substr(ProofSnapshot.tree, (starts[h] + ((i >> h) ^ 1)) * NODE + 1, NODE)
        for i in indexes for h in range(height)
    ]  # fmt: skip
    row = session.execute(select(*cols).where(ProofSnapshot.id == snapshot_id)).one()
    return [_nodes([row[n * height + h] for h in range(height)]) for n in range(len(indexes))]


def _nodes(records: list[Any]) -> list[dict[str, Any]]:
    return [{"hash": bytes(x[:32]).hex(), "sum": int.from_bytes(x[32:], "big")} for x in records]


MAX_HEIGHT = 24  # paths read with the parent's row for trees of up to 2^24 leaves


def _slice(index: str, height: int) -> str:
    """SQL for the stored node at `height` that is the sibling of the leaf at `index`,
    computed from the row's own columns (both databases have >> and &): level h starts at
    node 2N − 2·(N >> h), and the sibling of node k is k + 1 − 2·(k & 1)."""
    k = f"({index} >> {height})"
    start = f"(2 * s.leaf_count - 2 * (s.leaf_count >> {height}))"
    return f"substr(s.tree, ({start} + {k} + 1 - 2 * ({k} & 1)) * {NODE} + 1, {NODE})"


# Written once, as text: built as an expression per request, its 48 slices cost more (SQL
# construction, cache key, the driver's parsing of many parameters) than the database does.
_PARENT_SQL = (
    "SELECT p.snapshot_id, p.index0, p.salt0, p.amount0, p.index1, p.salt1, p.amount1,"
    " s.day, s.root, s.total, s.leaf_count, s.log_index, "
    + ", ".join(_slice(i, h) for i in ("p.index0", "p.index1") for h in range(MAX_HEIGHT))
    + " FROM proof_parents p JOIN proof_snapshots s ON s.id = p.snapshot_id"
    " WHERE p.enrollment_id = :enrollment AND s.institution_id = :institution"
)
_ON_DAY = text(_PARENT_SQL + " AND s.day = :day").columns(total=Money())
_LATEST = text(_PARENT_SQL + " ORDER BY s.day DESC LIMIT 1").columns(total=Money())


def _parent_with_paths(
    session: Session, institution_id: str, enrollment_id: str, day: date | None
) -> Any:
    """The parent's row, its snapshot's and both leaves' paths, in one statement: the
    slices for every height up to MAX_HEIGHT (those above the tree's own come back empty)."""
    found = {"enrollment": enrollment_id, "institution": institution_id}
    if day is None:
        return session.execute(_LATEST, found).first()
    return session.execute(_ON_DAY, {**found, "day": day.isoformat()}).first()


def parent_proof(
    session: Session, settings: Settings, *, institution_id: str, enrollment_id: str,
    day: date | None,
) -> dict[str, Any]:  # fmt: skip
    """§3's answer: the enrollment's two leaves in the day's snapshot (the latest one it is
    in, when no day is named), their paths, and the log entry with its inclusion in the
    newest checkpoint that covers it. One statement, and the log's part from the cache
    (`logged`) once any parent of that snapshot has been answered."""
    p = _parent_with_paths(session, institution_id, enrollment_id, day)
    if p is None:
        raise DomainError("not_found", "no published snapshot counts this enrollment on that day")
    height = p.leaf_count.bit_length() - 1
    if height <= MAX_HEIGHT:
        first = _nodes([p[12 + h] for h in range(height)])
        second = _nodes([p[12 + MAX_HEIGHT + h] for h in range(height)])
    else:
        first, second = _paths(session, p.snapshot_id, p.leaf_count, [p.index0, p.index1])
    leaves = [
        {"part": 0, "salt": bytes(p.salt0).hex(), "amount": p.amount0, "index": p.index0,
         "path": first},
        {"part": 1, "salt": bytes(p.salt1).hex(), "amount": p.amount1, "index": p.index1,
         "path": second},
    ]  # fmt: skip
    return {
        "version": 1, "snapshot_id": p.snapshot_id, "institution_id": institution_id,
        "date": p.day, "leaf_count": p.leaf_count,
        "root": {"hash": p.root, "sum": int((p.total * 100).to_integral_exact())},
        "enrollment_id": enrollment_id, "amount": yuan(p.amount0 + p.amount1),
        "leaves": leaves, "log": logged(session, settings, p.log_index),
    }  # fmt: skip


def logged(session: Session, settings: Settings, index: int) -> dict[str, Any]:
    """`{index, entry, inclusion, checkpoint}` for a log entry: what `proof entry` checks.
    The newest checkpoint that counts is kept for CHECKPOINT_TTL seconds (any counted one
    that covers the entry proves it), and each entry with its inclusion in it for as long as
    that checkpoint is served: entries and signed sizes never change."""
    db, now = kept_for(session), time.monotonic()
    kept = NEWEST.get(db)
    if kept is None or kept.size <= index or now - kept.at > CHECKPOINT_TTL:
        checkpoint = latest_checkpoint(session, settings, at_least=index + 1)
        if checkpoint is None:
            raise DomainError("not_found", "that log entry has no signed checkpoint yet")
        kept = Counted(checkpoint.size, checkpoint.note, now)
        if checkpoint.cosignatures >= log_keys.quorum(settings):
            NEWEST[db] = kept
    part = PARTS.get((db, index, kept.size))
    if part is None:
        public = PublicLog(session)
        entry = public.entry(index)
        if entry is None:
            raise DomainError("not_found", "that log entry has no signed checkpoint yet")
        part = (entry.entry, [h.hex() for h in public.inclusion(index, kept.size)])
        if len(PARTS) >= MAX_PARTS:
            PARTS.clear()
        PARTS[(db, index, kept.size)] = part
    return {"index": index, "entry": part[0], "inclusion": part[1], "checkpoint": kept.note}


def checkpoint_text(session: Session, settings: Settings, size: int | None) -> str:
    """The newest checkpoint that counts, or the one signed at `size` (every one is kept)."""
    found = (latest_checkpoint(session, settings) if size is None
             else session.get(Checkpoint, size))  # fmt: skip
    if found is None:
        raise DomainError("not_found", "no checkpoint of that size")
    return found.note


def entries(session: Session, start: int, end: int) -> list[dict[str, Any]]:
    if not 0 <= start <= end or end - start > MAX_ENTRIES:
        raise DomainError(
            "validation_error", f"0 <= start <= end and at most {MAX_ENTRIES} entries"
        )
    return [{"index": e.idx, "entry": e.entry} for e in PublicLog(session).entries(start, end)]


def inclusion(session: Session, index: int, size: int) -> dict[str, Any]:
    public = PublicLog(session)
    if not 0 <= index < size <= public.size():
        raise DomainError("validation_error", "0 <= index < size <= the log's size")
    return {
        "index": index,
        "size": size,
        "hashes": [h.hex() for h in public.inclusion(index, size)],
    }


def consistency(session: Session, first: int, second: int) -> dict[str, Any]:
    public = PublicLog(session)
    if not 0 <= first <= second <= public.size():
        raise DomainError("validation_error", "0 <= from <= to <= the log's size")
    hashes = public.consistency(first, second)
    return {"from": first, "to": second, "hashes": [h.hex() for h in hashes]}
