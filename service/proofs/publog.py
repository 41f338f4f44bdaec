"""The public log kept in the database (docs/proofs.md §4–5): appending entries, the hashes of
its perfect subtrees (each written once, when it fills), roots and proofs read from them in
O(log n) lookups, and the checkpoints the log signs. One appender at a time: on PostgreSQL a
transaction-level advisory lock, on SQLite the database's single writer."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import overload

from sqlalchemy import func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from service.config import Settings
from service.proofs import keys as log_keys
from service.proofs.log import consistency_proof, inclusion_proof, tree_root
from service.proofs.models import Checkpoint, LogEntry, LogNode
from service.proofs.signing import log_signature, signed_note
from tgproof import log, note

LOG_LOCK_KEY = 0x7467_6C6F_6700  # "tglog": one appender at a time


class _Nodes:
    """Stored node hashes, read once each per use."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[tuple[int, int], bytes] = {}

    def load(self, keys: set[tuple[int, int]]) -> None:
        """These nodes read in one statement (a proof's O(log n) of them)."""
        wanted = sorted(keys - self.known.keys())
        if wanted:
            rows = self.session.execute(
                select(LogNode.level, LogNode.idx, LogNode.hash).where(
                    tuple_(LogNode.level, LogNode.idx).in_(wanted)
                )
            )
            self.known.update({(lv, i): bytes(h) for lv, i, h in rows})

    def get(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        if key not in self.known:
            found = self.session.get(LogNode, key)
            if found is None:
                raise LookupError(f"the log has no node {key}")
            self.known[key] = bytes(found.hash)
        return self.known[key]


class _Recorder(_Nodes):
    """Answers any node with zeros and notes which were asked: a dry run finds what a proof
    will read, so that it is read in one statement."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.asked: set[tuple[int, int]] = set()

    def get(self, level: int, idx: int) -> bytes:
        self.asked.add((level, idx))
        return bytes(32)


class _Leaves(Sequence[bytes]):
    """The first `size` leaf hashes, looked up only where a proof needs one."""

    def __init__(self, nodes: _Nodes, size: int) -> None:
        self.nodes, self.size = nodes, size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(i, slice):
            raise TypeError("the stored log is read a leaf at a time")
        if not 0 <= i < self.size:
            raise IndexError(i)
        return self.nodes.get(0, i)


class _Perfect(MutableMapping[tuple[int, int], bytes]):
    """The perfect subtrees as `service.proofs.log` keys them ((lo, hi): aligned, 2^k wide),
    all stored once full; nothing computed is written back."""

    def __init__(self, nodes: _Nodes, size: int) -> None:
        self.nodes, self.size = nodes, size

    def _key(self, key: object) -> tuple[int, int] | None:
        if not isinstance(key, tuple) or len(key) != 2:
            return None
        lo, hi = key
        width = hi - lo
        if width < 1 or width & (width - 1) or lo % width or hi > self.size:
            return None
        return width.bit_length() - 1, lo // width

    def __contains__(self, key: object) -> bool:
        return self._key(key) is not None

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        found = self._key(key)
        if found is None:
            raise KeyError(key)
        return self.nodes.get(*found)

    def __setitem__(self, key: tuple[int, int], value: bytes) -> None:
        pass  # every perfect subtree is already stored

    def __delitem__(self, key: tuple[int, int]) -> None:
        raise TypeError("the log's nodes are never removed")

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(slots=True)
class Counted:
    size: int
    note: str
    at: float


# What the proofs' answers keep between requests (service/proofs/serving.py `logged`), by
# database: the newest checkpoint that counts, served for CHECKPOINT_TTL seconds, and each
# entry with its inclusion in a checkpoint's size (neither ever changes once written).
CHECKPOINT_TTL = 30.0
NEWEST: dict[str, Counted] = {}
PARTS: dict[tuple[str, int, int], tuple[str, list[str]]] = {}  # (database, index, size)
MAX_PARTS = 4096


def kept_for(session: Session) -> str:
    return session.get_bind().engine.url.render_as_string(hide_password=True)


def forget(session: Session) -> None:
    """Drops what is kept of this database: called whenever the log appends, signs or gains a
    cosignature here (a test's database emptied and refilled is not answered from before;
    another process's changes reach this one within CHECKPOINT_TTL)."""
    db = kept_for(session)
    NEWEST.pop(db, None)
    for key in [k for k in PARTS if k[0] == db]:
        del PARTS[key]


class PublicLog:
    """The log as stored, for one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.nodes = _Nodes(session)

    def size(self) -> int:
        found = self.session.execute(select(func.max(LogEntry.idx))).scalar()
        return 0 if found is None else int(found) + 1

    def lock(self) -> None:
        """Held to the end of the caller's transaction: appends and checkpoints in order."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOG_LOCK_KEY})

    def append(self, entries: Sequence[tuple[str, str, bytes]], *, now: datetime) -> int:
        """Appends (kind, day, entry) in order, under the lock; the index of the first."""
        self.lock()
        forget(self.session)
        start = self.size()
        frontier = self._frontier(start)  # level -> the hash of the open perfect subtree
        made: list[tuple[int, int, bytes]] = []
        rows = [{"idx": start + n, "kind": kind, "day": day, "entry": entry.decode(),
                 "created_at": now} for n, (kind, day, entry) in enumerate(entries)]  # fmt: skip
        for offset, (_, _, entry) in enumerate(entries):
            i = start + offset
            current, level, k = log.leaf_hash(entry), 0, i
            made.append((0, i, current))
            while k & 1:  # closes a perfect subtree: hash it with its left sibling
                current = log.node_hash(frontier.pop(level), current)
                level, k = level + 1, k >> 1
                made.append((level, k, current))
            frontier[level] = current
        if rows:
            self.session.execute(insert(LogEntry), rows)
        if made:
            self.session.execute(
                insert(LogNode),
                [{"level": lv, "idx": k, "hash": h} for lv, k, h in made],
            )
        self.nodes.known.update({(lv, k): h for lv, k, h in made})
        return start

    def _frontier(self, size: int) -> dict[int, bytes]:
        """The left siblings a next leaf may close: the perfect subtrees of the binary
        decomposition of `size` (at most one per level)."""
        found, done = {}, 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size & (1 << level):
                found[level] = self.nodes.get(level, done >> level)
                done += 1 << level
        return found

    def root(self, size: int) -> bytes:
        self._within(size)
        return tree_root(_Leaves(self.nodes, size), _Perfect(self.nodes, size))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        self._within(size)
        dry = _Recorder(self.session)
        inclusion_proof(_Leaves(dry, size), index, _Perfect(dry, size))
        self.nodes.load(dry.asked)
        return inclusion_proof(_Leaves(self.nodes, size), index, _Perfect(self.nodes, size))

    def consistency(self, first: int, second: int) -> list[bytes]:
        self._within(second)
        dry = _Recorder(self.session)
        consistency_proof(_Leaves(dry, second), first, _Perfect(dry, second))
        self.nodes.load(dry.asked)
        return consistency_proof(_Leaves(self.nodes, second), first, _Perfect(self.nodes, second))

    def entries(self, start: int, end: int) -> list[LogEntry]:
        return list(
            self.session.scalars(
                select(LogEntry).where(LogEntry.idx >= start, LogEntry.idx < end)
                .order_by(LogEntry.idx)
            )
        )  # fmt: skip

    def entry(self, index: int) -> LogEntry | None:
        return self.session.get(LogEntry, index)

    def _within(self, size: int) -> None:
        if not 0 <= size <= self.size():
            raise ValueError(f"the log has {self.size()} entries, not {size}")


def sign_checkpoint(session: Session, settings: Settings, *, now: datetime) -> Checkpoint:
    """The log's checkpoint at its current size, signed (kept if that size is signed already);
    the witnesses' cosignatures are asked for after the transaction commits."""
    public = PublicLog(session)
    public.lock()
    size = public.size()
    found = session.get(Checkpoint, size)
    if found is not None:
        return found
    body = note.Checkpoint(settings.log_origin, size, public.root(size)).body()
    line = log_signature(body, settings.log_origin, log_keys.log_key(settings))
    forget(session)
    checkpoint = Checkpoint(size=size, note=signed_note(body, [line]), cosignatures=0,
                            created_at=now)  # fmt: skip
    session.add(checkpoint)
    session.flush()
    return checkpoint


def latest_checkpoint(
    session: Session, settings: Settings, *, at_least: int = 0
) -> Checkpoint | None:
    """The newest checkpoint that counts (a quorum of cosignatures) and covers `at_least`
    entries; failing that the newest signed one, which a verifier will refuse as it should."""
    quorum = log_keys.quorum(settings)
    base = select(Checkpoint).where(Checkpoint.size >= max(at_least, 1))
    counted = session.scalars(
        base.where(Checkpoint.cosignatures >= quorum).order_by(Checkpoint.size.desc()).limit(1)
    ).first()
    if counted is not None:
        return counted
    return session.scalars(base.order_by(Checkpoint.size.desc()).limit(1)).first()
