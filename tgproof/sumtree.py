"""The Merkle sum tree of a daily snapshot (docs/proofs.md §2): leaf and node hashing and the
check of one leaf's path up to the root. Every node commits to both children's hashes and sums,
so a prover cannot shrink a total (Chalkias et al., "Broken Proofs of Solvency")."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tgproof.errors import ProofError

MAX_SUM = 2**63  # a verifier rejects any sum of 2^63 or more
MIN_LEAVES = 1024


@dataclass(frozen=True, slots=True)
class Node:
    """A node of the sum tree (a leaf included): its hash and the sum under it, in fen."""

    hash: bytes
    sum: int


def u64be(value: int) -> bytes:
    if not 0 <= value < MAX_SUM:
        raise ProofError(f"sum out of range: {value}")
    return value.to_bytes(8, "big")


def holder_hash(enrollment_id: str, part: int, salt: bytes) -> bytes:
    if part not in (0, 1):
        raise ProofError(f"part must be 0 or 1, not {part}")
    if len(salt) != 32:
        raise ProofError("a salt is 32 bytes")
    data = b"tg-pol-holder-v1\x00" + enrollment_id.encode() + b"\x00" + bytes([part]) + salt
    return hashlib.sha256(data).digest()


def leaf(snapshot_id: str, holder: bytes, amount: int) -> Node:
    if len(holder) != 32:
        raise ProofError("a holder is 32 bytes")
    data = b"\x00tg-pol-leaf-v1\x00" + snapshot_id.encode() + b"\x00" + holder + u64be(amount)
    return Node(hashlib.sha256(data).digest(), amount)


def node(left: Node, right: Node) -> Node:
    total = left.sum + right.sum
    u64be(total)  # the parent's sum must itself be in range
    data = b"\x01tg-pol-node-v1\x00" + left.hash + u64be(left.sum) + right.hash + u64be(right.sum)
    return Node(hashlib.sha256(data).digest(), total)


def check_leaf_count(leaf_count: int) -> int:
    """The tree's height; a leaf count that is not a power of two of at least 1,024 fails."""
    if leaf_count < MIN_LEAVES or leaf_count & (leaf_count - 1):
        raise ProofError(f"leaf_count {leaf_count} is not a power of two of at least 1024")
    return leaf_count.bit_length() - 1


def fold(start: Node, index: int, path: Sequence[Node], leaf_count: int) -> Node:
    """The root a leaf at `index` reaches through its siblings `path` (path[0] at height 0;
    bit i of index set when the node at height i is a right child)."""
    height = check_leaf_count(leaf_count)
    if not 0 <= index < leaf_count:
        raise ProofError(f"index {index} outside a tree of {leaf_count} leaves")
    if len(path) != height:
        raise ProofError(f"a path in a tree of {leaf_count} leaves has {height} siblings")
    current = start
    for i, sibling in enumerate(path):
        u64be(sibling.sum)
        current = node(sibling, current) if (index >> i) & 1 else node(current, sibling)
    return current
