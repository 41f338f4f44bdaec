"""The proofs' tables: each day's snapshot per institution (its root, total and whole tree,
and each parent's parts with their salts, so a proof can be served any day after), the public
log's entries with the hashes of its perfect subtrees, every checkpoint the log signed with the
witnesses' cosignatures, and the size each witness last cosigned."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import Money, UTCDateTime
from service.kit.db import Base


class ProofSnapshot(Base):
    """One institution's liabilities on one Beijing day (docs/proofs.md §1–2)."""

    __tablename__ = "proof_snapshots"
    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<institution>/<day>"
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, Beijing
    root: Mapped[str] = mapped_column(String(64))  # hex
    total: Mapped[Decimal] = mapped_column(Money())  # yuan: the root's sum
    leaf_count: Mapped[int] = mapped_column(Integer)
    enrollments: Mapped[int] = mapped_column(Integer)  # owed something, so in the tree
    # The escrow account's closing balance on the custody bank's statement of that day.
    attested_balance: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    statement_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    log_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Every level of the tree, leaves first, each node 40 bytes (hash || u64be sum): a path is
    # read as one slice per level, not rebuilt from the leaves (65,536 leaves: 131,071 hashes).
    tree: Mapped[bytes] = mapped_column(LargeBinary)


Index(
    "ix_proof_snapshots_institution", ProofSnapshot.institution_id, ProofSnapshot.day, unique=True
)
Index("ix_proof_snapshots_day", ProofSnapshot.day)


class ProofParent(Base):
    """A parent's two leaves in a snapshot: where each is, its salt and its amount (fen)."""

    __tablename__ = "proof_parents"
    snapshot_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    index0: Mapped[int] = mapped_column(Integer)
    salt0: Mapped[bytes] = mapped_column(LargeBinary)
    amount0: Mapped[int] = mapped_column(BigInteger)
    index1: Mapped[int] = mapped_column(Integer)
    salt1: Mapped[bytes] = mapped_column(LargeBinary)
    amount1: Mapped[int] = mapped_column(BigInteger)


class LogEntry(Base):
    """An entry of the public log (§4), canonical JSON, never changed."""

    __tablename__ = "proof_log_entries"
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(20))  # liabilities | ledger_anchor
    day: Mapped[str] = mapped_column(String(10))
    entry: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_proof_log_entries_day", LogEntry.kind, LogEntry.day)


class LogNode(Base):
    """The hash of a perfect subtree of the log: 2^level entries from idx·2^level on (level 0:
    an entry's leaf hash). Once full it never changes, so any root or proof is O(log n) of
    them, whatever the log's length."""

    __tablename__ = "proof_log_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class Checkpoint(Base):
    """A checkpoint the log signed (§5), with the witnesses' cosignatures as they came."""

    __tablename__ = "proof_checkpoints"
    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)  # the signed note, every signature line
    cosignatures: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WitnessState(Base):
    """The size a witness last cosigned: the `old` of the next add-checkpoint asked of it."""

    __tablename__ = "proof_witnesses"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
