"""A day's snapshots built fast (docs/proofs.md §1–2): the same trees as `snapshot.py`'s, bit
for bit, made as one `bytes` per tree with no object per node — a day of 10,000 institutions,
each padded to at least 1,024 leaves, is twenty million hashes — and the randomness read from
the operating system in one draw per snapshot, not one per value. Imports only the standard
library, so a process pool's workers start quickly; `build_many` is what they run.

The leaves are placed as §2 says, in a cheaper but identical way: a uniformly random order of
the parents' leaves among N leaves of which the rest are padding, each with its own random
holder, is the same as the parents' leaves put in uniformly random distinct places (a partial
Fisher–Yates shuffle) and fresh padding in every other place."""

from __future__ import annotations

import hashlib
import operator
import secrets
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

MIN_LEAVES = 1024
MAX_SUM = 2**63
NODE_BYTES = 40  # a stored node: hash || u64be sum
_HOLDER = b"tg-pol-holder-v1\x00"
_LEAF = b"\x00tg-pol-leaf-v1\x00"
_NODE = b"\x01tg-pol-node-v1\x00"
_WORDS = 256  # 64-bit random words read per further draw of the generator


@dataclass(frozen=True, slots=True)
class Built:
    """One snapshot: its root, its tree as stored (every level, leaves first) and each
    parent's (enrollment_id, index0, salt0, amount0, index1, salt1, amount1)."""

    snapshot_id: str
    root: bytes
    total: int
    leaf_count: int
    tree: bytes
    parents: list[tuple[str, int, bytes, int, int, bytes, int]]
    copy: bytes = b""  # the parents' proof_parents rows in COPY's binary format


def copy_rows(
    snapshot_id: str, parents: list[tuple[str, int, bytes, int, int, bytes, int]]
) -> bytes:
    """proof_parents rows (snapshot_id, enrollment_id, index0, salt0, amount0, index1, salt1,
    amount1) in PostgreSQL's binary COPY format: each row its field count, then each field
    its length and its bytes (text as UTF-8, int4, bytea, int8)."""
    sid = snapshot_id.encode()
    head = struct.pack(">hi", 8, len(sid)) + sid
    rows = []
    for enrollment_id, i0, s0, a0, i1, s1, a1 in parents:
        e = enrollment_id.encode()
        rows.append(head + struct.pack(
            f">i{len(e)}siii{len(s0)}siqiii{len(s1)}siq",
            len(e), e, 4, i0, len(s0), s0, 8, a0, 4, i1, len(s1), s1, 8, a1))  # fmt: skip
    return b"".join(rows)


def leaf_count_for(leaves: int) -> int:
    """N = max(1024, the smallest power of two ≥ the number of leaves)."""
    return max(MIN_LEAVES, 1 << max(leaves - 1, 0).bit_length())


_HASH = type(hashlib.sha256())
_SLICES: dict[tuple[int, int], list[slice]] = {}


def _slices(width: int, size: int) -> list[slice]:
    """`width` consecutive slices of `size` bytes, made once per process and reused."""
    found = _SLICES.get((width, size))
    if found is None:
        found = _SLICES[(width, size)] = [slice(i, i + size) for i in range(0, width * size, size)]
    return found


def tree_bytes(snapshot_id: str, holders: Sequence[bytes], amounts: Sequence[int]) -> bytes:
    """Every level of the sum tree over these leaves, leaves first, each node its hash and
    u64be sum: a node's hash input is its children's two stored records, sliced as they lie.
    Amounts must be ≥ 0 and total under 2^63 (then so is every sum below the root). The
    loops are `map`s of C functions: no Python bytecode runs per node."""
    n = len(holders)
    if n < 1 or n & (n - 1) or len(amounts) != n:
        raise ValueError("a tree has a power of two of leaves, each with an amount")
    if min(amounts) < 0 or sum(amounts) >= MAX_SUM:
        raise ValueError("a leaf's amount is negative or the total is 2^63 or more")
    sha, digest, join = hashlib.sha256, _HASH.digest, bytes.__add__
    prefix = _LEAF + snapshot_id.encode() + b"\x00"
    packed = struct.pack(f">{n}Q", *amounts)
    eights = list(map(packed.__getitem__, _slices(n, 8)))
    hashes = map(digest, map(sha, map(prefix.__add__, map(join, holders, eights))))
    level = b"".join(map(join, hashes, eights))
    levels, sums = [level], list(amounts)
    while len(sums) > 1:
        sums = list(map(operator.add, sums[::2], sums[1::2]))
        width = len(sums)
        packed = struct.pack(f">{width}Q", *sums)
        pairs = map(level.__getitem__, _slices(width, 2 * NODE_BYTES))
        hashes = map(digest, map(sha, map(_NODE.__add__, pairs)))
        level = b"".join(map(join, hashes, map(packed.__getitem__, _slices(width, 8))))
        levels.append(level)
    return b"".join(levels)


def _words(first: int) -> Iterator[int]:
    """64-bit random words: `first` of them in one read of the generator, then more."""
    count = first
    while True:
        yield from struct.unpack(f">{count}Q", secrets.token_bytes(8 * count))
        count = _WORDS


def _below(words: Iterator[int], bound: int) -> int:
    """Uniform in [0, bound) for bound ≤ 2^64: a word from the largest multiple of `bound`
    under 2^64, reduced (rejection sampling: no bias)."""
    limit = (1 << 64) - (1 << 64) % bound
    while True:
        word = next(words)
        if word < limit:
            return word % bound


def build(snapshot_id: str, liabilities: Iterable[tuple[str, int]]) -> Built:
    """§2's tree of (enrollment_id, fen owed) pairs with the operating system's randomness:
    each enrollment owed L > 0 split uniformly into a and L − a, a salt per leaf, padding to
    N leaves, the parents' leaves in uniformly random places."""
    owed, seen = [], set()
    for enrollment_id, amount in liabilities:
        if enrollment_id in seen:
            raise ValueError(f"enrollment {enrollment_id} listed twice in {snapshot_id}")
        seen.add(enrollment_id)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"liability of {enrollment_id} is not a whole number of fen ≥ 0")
        if amount:
            owed.append((enrollment_id, amount))
    n = leaf_count_for(2 * len(owed))
    words = _words(3 * len(owed) + 8)  # 2 places and a split per parent, a few rejected
    places = list(range(n))
    for t in range(2 * len(owed)):  # a partial Fisher–Yates shuffle: 2p distinct places
        r = t + _below(words, n - t)
        places[t], places[r] = places[r], places[t]
    pad = secrets.token_bytes(32 * n)
    holders = [pad[i : i + 32] for i in range(0, 32 * n, 32)]
    amounts = [0] * n
    salts = secrets.token_bytes(64 * len(owed))
    sha, parents = hashlib.sha256, []
    for t, (enrollment_id, amount) in enumerate(owed):
        first = _below(words, amount + 1)
        head = _HOLDER + enrollment_id.encode() + b"\x00"
        s0, s1 = salts[64 * t : 64 * t + 32], salts[64 * t + 32 : 64 * t + 64]
        i0, i1 = places[2 * t], places[2 * t + 1]
        holders[i0], amounts[i0] = sha(head + b"\x00" + s0).digest(), first
        holders[i1], amounts[i1] = sha(head + b"\x01" + s1).digest(), amount - first
        parents.append((enrollment_id, i0, s0, first, i1, s1, amount - first))
    try:
        tree = tree_bytes(snapshot_id, holders, amounts)
    except ValueError as e:
        raise ValueError(f"{snapshot_id}: {e}") from e
    top = tree[-NODE_BYTES:]
    return Built(snapshot_id=snapshot_id, root=top[:32], total=int.from_bytes(top[32:], "big"),
                 leaf_count=n, tree=tree, parents=parents,
                 copy=copy_rows(snapshot_id, parents))  # fmt: skip


def build_many(batch: list[tuple[str, list[tuple[str, int]]]]) -> list[Built]:
    """A process pool's unit of work: several institutions' snapshots."""
    return [build(snapshot_id, liabilities) for snapshot_id, liabilities in batch]
