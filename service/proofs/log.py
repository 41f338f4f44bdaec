"""The public log's Merkle tree, the builder's side (RFC 9162 §2.1): the root of any prefix,
inclusion proofs (§2.1.3.1) and consistency proofs (§2.1.4.1), over the entries' leaf hashes."""

from __future__ import annotations

from collections.abc import Sequence

from tgproof import log


def largest_power_of_two_below(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes."""
    if not leaves:
        return log.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = largest_power_of_two_below(len(leaves))
    return log.node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, leaves)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"index {index} outside a log of {len(leaves)} entries")
    if len(leaves) == 1:
        return []
    k = largest_power_of_two_below(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], first: int) -> list[bytes]:
    """PROOF(first, leaves): that the first `first` entries are a prefix of all of them."""
    if not 0 <= first <= len(leaves):
        raise ValueError(f"no consistency from size {first} to size {len(leaves)}")
    if first in (0, len(leaves)):
        return []
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = largest_power_of_two_below(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


class MerkleLog:
    """An append-only list of entries (in memory; the service keeps its entries in the
    database and builds this from them)."""

    def __init__(self, entries: Sequence[bytes] = ()) -> None:
        self.entries: list[bytes] = []
        self.leaves: list[bytes] = []
        for entry in entries:
            self.append(entry)

    def append(self, entry: bytes) -> int:
        self.entries.append(entry)
        self.leaves.append(log.leaf_hash(entry))
        return len(self.entries) - 1

    @property
    def size(self) -> int:
        return len(self.leaves)

    def root(self, size: int | None = None) -> bytes:
        return root(self.leaves[: self.size if size is None else size])

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self.leaves[: self.size if size is None else size], index)

    def consistency(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(self.leaves[: self.size if second is None else second], first)
