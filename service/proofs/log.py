"""The public log's Merkle tree, the builder's side (RFC 9162 §2.1): the root of any prefix,
inclusion proofs (§2.1.3.1) and consistency proofs (§2.1.4.1), over the entries' leaf hashes.
A perfect subtree (aligned, a power of two wide) never changes once full, so its hash is
computed once: a proof then costs O(log n) hashes, not a pass over the whole log."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence

from tgproof import log


def largest_power_of_two_below(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class _Tree:
    """MTH over leaves[lo:hi], with the perfect subtrees' hashes kept in `cache`."""

    def __init__(
        self, leaves: Sequence[bytes], cache: MutableMapping[tuple[int, int], bytes]
    ) -> None:
        self.leaves, self.cache = leaves, cache

    def root(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return log.EMPTY_ROOT
        if n == 1:
            return self.leaves[lo]
        perfect = n & (n - 1) == 0
        if perfect and (lo, hi) in self.cache:
            return self.cache[(lo, hi)]
        k = largest_power_of_two_below(n)
        found = log.node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
        if perfect:
            self.cache[(lo, hi)] = found
        return found

    def path(self, index: int, lo: int, hi: int) -> list[bytes]:
        if hi - lo == 1:
            return []
        k = largest_power_of_two_below(hi - lo)
        if index < lo + k:
            return [*self.path(index, lo, lo + k), self.root(lo + k, hi)]
        return [*self.path(index, lo + k, hi), self.root(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.root(lo, hi)]
        k = largest_power_of_two_below(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, complete), self.root(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.root(lo, lo + k)]


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes."""
    return _Tree(leaves, {}).root(0, len(leaves))


def tree_root(leaves: Sequence[bytes], cache: MutableMapping[tuple[int, int], bytes]) -> bytes:
    """MTH over leaf hashes, with known perfect subtrees in `cache`."""
    return _Tree(leaves, cache).root(0, len(leaves))


def inclusion_proof(
    leaves: Sequence[bytes], index: int, cache: MutableMapping[tuple[int, int], bytes] | None = None
) -> list[bytes]:
    """PATH(index, leaves)."""
    if not 0 <= index < len(leaves):
        raise ValueError(f"index {index} outside a log of {len(leaves)} entries")
    return _Tree(leaves, {} if cache is None else cache).path(index, 0, len(leaves))


def consistency_proof(
    leaves: Sequence[bytes], first: int, cache: MutableMapping[tuple[int, int], bytes] | None = None
) -> list[bytes]:
    """PROOF(first, leaves): that the first `first` entries are a prefix of all of them."""
    if not 0 <= first <= len(leaves):
        raise ValueError(f"no consistency from size {first} to size {len(leaves)}")
    if first in (0, len(leaves)):
        return []
    return _Tree(leaves, {} if cache is None else cache).subproof(first, 0, len(leaves), True)


class MerkleLog:
    """An append-only list of entries (in memory; the service will keep its entries in the
    database and build this from them)."""

    def __init__(self, entries: Sequence[bytes] = ()) -> None:
        self.entries: list[bytes] = []
        self.leaves: list[bytes] = []
        self._cache: dict[tuple[int, int], bytes] = {}  # perfect subtrees: valid forever
        for entry in entries:
            self.append(entry)

    def append(self, entry: bytes) -> int:
        self.entries.append(entry)
        self.leaves.append(log.leaf_hash(entry))
        return len(self.entries) - 1

    @property
    def size(self) -> int:
        return len(self.leaves)

    def _upto(self, size: int | None) -> Sequence[bytes]:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"the log has {self.size} entries, not {size}")
        return self.leaves[:size]

    def root(self, size: int | None = None) -> bytes:
        leaves = self._upto(size)
        return _Tree(leaves, self._cache).root(0, len(leaves))

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self._upto(size), index, self._cache)

    def consistency(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(self._upto(second), first, self._cache)
