"""The public log's Merkle tree (RFC 9162 §2.1): leaf and node hashes, and the verification of
inclusion (§2.1.3.2) and consistency (§2.1.4.2) proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tgproof.errors import ProofError

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes(path: Sequence[bytes]) -> None:
    if any(len(h) != 32 for h in path):
        raise ProofError("a log proof's hashes are 32 bytes each")


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> None:
    """Raises unless `leaf` (a leaf hash) is entry `index` of the tree of `size` with `root`."""
    _hashes(path)
    if not 0 <= index < size:
        raise ProofError(f"log index {index} outside a log of {size} entries")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("log inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or r != root:
        raise ProofError("log inclusion proof does not reach the checkpoint's root")


def verify_consistency(
    first: int, second: int, path: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Raises unless the log of size `second` with `second_root` extends the one of size
    `first` with `first_root` (the older log is a prefix of the newer)."""
    _hashes(path)
    if not 0 <= first <= second:
        raise ProofError(f"no consistency from size {first} to size {second}")
    if first == second or first == 0:
        if path or (first == second and first_root != second_root):
            raise ProofError("logs of equal size differ, or a needless consistency proof")
        return
    nodes = list(path)
    if first & (first - 1) == 0:  # an exact power of two: its root is a node of the new tree
        nodes.insert(0, first_root)
    if not nodes:
        raise ProofError("empty consistency proof")
    _fold_consistency(first, second, nodes, first_root, second_root)


def _fold_consistency(
    first: int, second: int, nodes: list[bytes], first_root: bytes, second_root: bytes
) -> None:
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofError(f"the log of size {second} does not extend the log of size {first}")
