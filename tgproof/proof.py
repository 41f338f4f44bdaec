"""A parent's proof (docs/proofs.md §3), checked end to end: the leaves, their paths to the
root, the parts adding up to the amount, the log entry naming this root and total, the entry's
inclusion in the checkpoint, and the checkpoint's signatures."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from tgproof import log, note, sumtree
from tgproof.errors import ProofError

_YUAN = re.compile(r"(0|[1-9][0-9]*)\.([0-9]{2})")
_HEX32 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified proof establishes."""

    institution_id: str
    date: str
    enrollment_id: str
    amount_fen: int
    total_fen: int
    log_index: int
    checkpoint: note.Checkpoint


def fen(yuan: str) -> int:
    """ "975.00" as 97500 fen; anything but digits, a point and two decimals fails."""
    if not isinstance(yuan, str) or not (m := _YUAN.fullmatch(yuan)):
        raise ProofError(f"not an amount in yuan with two decimals: {yuan!r}")
    return int(m.group(1)) * 100 + int(m.group(2))


def yuan(fen_amount: int) -> str:
    return f"{fen_amount // 100}.{fen_amount % 100:02d}"


def canonical(value: Any) -> bytes:
    """Canonical JSON (§4): keys sorted, no insignificant whitespace, UTF-8 unescaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def hex32(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX32.fullmatch(value):
        raise ProofError(f"{what} is not 32 bytes of lowercase hex")
    return bytes.fromhex(value)


def whole(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProofError(f"{what} is not a whole number")
    return value


def text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ProofError(f"{what} is not a string")
    return value


def verify_leaves(proof: dict[str, Any]) -> tuple[int, sumtree.Node]:
    """The amount the parent's parts add up to, and the root they all reach."""
    snapshot_id = text(proof.get("snapshot_id"), "snapshot_id")
    enrollment_id = text(proof.get("enrollment_id"), "enrollment_id")
    leaf_count = whole(proof.get("leaf_count"), "leaf_count")
    root = proof.get("root")
    if not isinstance(root, dict):
        raise ProofError("root is not {hash, sum}")
    expected = sumtree.Node(
        hex32(root.get("hash"), "root.hash"), whole(root.get("sum"), "root.sum")
    )
    sumtree.u64be(expected.sum)
    leaves = proof.get("leaves")
    if not isinstance(leaves, list) or sorted(_part(x) for x in leaves) != [0, 1]:
        raise ProofError("a proof has exactly two leaves, parts 0 and 1")
    indexes = set()
    total = 0
    for item in leaves:
        reached = _fold_leaf(item, snapshot_id, enrollment_id, leaf_count)
        if reached != expected:
            raise ProofError(f"leaf part {item['part']} does not reach the root")
        indexes.add(item["index"])
        total += item["amount"]
    if len(indexes) != 2:
        raise ProofError("the two parts claim the same leaf")
    if total != fen(text(proof.get("amount"), "amount")):
        raise ProofError(f"the parts add up to {yuan(total)}, not {proof.get('amount')}")
    return total, expected


def _part(item: Any) -> int:
    if not isinstance(item, dict):
        raise ProofError("a leaf is an object")
    return whole(item.get("part"), "part")


def _fold_leaf(
    item: dict[str, Any], snapshot_id: str, enrollment_id: str, count: int
) -> sumtree.Node:
    salt = hex32(item.get("salt"), "salt")
    amount = whole(item.get("amount"), "amount")
    index = whole(item.get("index"), "index")
    path = item.get("path")
    if not isinstance(path, list):
        raise ProofError("path is a list")
    siblings = [_sibling(p) for p in path]
    holder = sumtree.holder_hash(enrollment_id, _part(item), salt)
    return sumtree.fold(sumtree.leaf(snapshot_id, holder, amount), index, siblings, count)


def _sibling(value: Any) -> sumtree.Node:
    if not isinstance(value, dict):
        raise ProofError("a path step is {hash, sum}")
    return sumtree.Node(hex32(value.get("hash"), "path hash"), whole(value.get("sum"), "path sum"))


def parse_entry(entry_text: str) -> dict[str, Any]:
    """A log entry (§4): a JSON object in canonical form, with a known `kind`."""
    try:
        entry = json.loads(entry_text)
    except ValueError as e:
        raise ProofError("log.entry is not JSON") from e
    if not isinstance(entry, dict) or canonical(entry) != entry_text.encode():
        raise ProofError("log.entry is not canonical JSON")
    if entry.get("kind") not in ("liabilities", "ledger_anchor"):
        raise ProofError(f"log.entry is of no known kind: {entry.get('kind')!r}")
    return entry


def verify_entry(proof: dict[str, Any], root: sumtree.Node) -> bytes:
    """The log entry's bytes, if it is canonical and names this snapshot's root and total."""
    if whole(proof.get("version"), "version") != 1:
        raise ProofError("only version 1 proofs are known")
    part = proof.get("log")
    entry_text = text(part.get("entry") if isinstance(part, dict) else None, "log.entry")
    entry = parse_entry(entry_text)
    institution = text(proof.get("institution_id"), "institution_id")
    date = text(proof.get("date"), "date")
    wanted = {
        "kind": "liabilities",
        "institution_id": institution,
        "date": date,
        "snapshot_id": f"{institution}/{date}",
        "root": root.hash.hex(),
        "total": yuan(root.sum),
        "leaf_count": proof.get("leaf_count"),
    }
    for key, value in wanted.items():
        if entry.get(key) != value:
            raise ProofError(f"the log entry's {key} is {entry.get(key)!r}, not {value!r}")
    if proof.get("snapshot_id") != wanted["snapshot_id"]:
        raise ProofError("snapshot_id is not <institution_id>/<date>")
    return entry_text.encode()


def verify_logged(
    proof: dict[str, Any], entry: bytes, keys: note.Keys
) -> tuple[int, note.Checkpoint]:
    part = proof.get("log")
    if not isinstance(part, dict):
        raise ProofError("log is {index, entry, inclusion, checkpoint}")
    checkpoint = note.verify_checkpoint(text(part.get("checkpoint"), "log.checkpoint"), keys)
    index = whole(part.get("index"), "log.index")
    hashes = part.get("inclusion")
    if not isinstance(hashes, list):
        raise ProofError("log.inclusion is a list")
    path = [hex32(h, "log.inclusion hash") for h in hashes]
    log.verify_inclusion(log.leaf_hash(entry), index, checkpoint.size, path, checkpoint.root)
    return index, checkpoint


def verify_log_entry(part: Any, keys: note.Keys) -> tuple[dict[str, Any], int, note.Checkpoint]:
    """Any logged entry (a snapshot's root or a ledger anchor) as `{index, entry, inclusion,
    checkpoint}`: canonical, included at `index` in a signed, cosigned checkpoint."""
    if not isinstance(part, dict):
        raise ProofError("a logged entry is {index, entry, inclusion, checkpoint}")
    entry_text = text(part.get("entry"), "log.entry")
    entry = parse_entry(entry_text)
    index, checkpoint = verify_logged({"log": part}, entry_text.encode(), keys)
    return entry, index, checkpoint


def verify_parent_proof(proof: Any, keys: note.Keys) -> Verified:
    """Everything §3 asks of a verifier; raises ProofError on the first failure."""
    if not isinstance(proof, dict):
        raise ProofError("a proof is a JSON object")
    amount, root = verify_leaves(proof)
    entry = verify_entry(proof, root)
    index, checkpoint = verify_logged(proof, entry, keys)
    return Verified(
        proof["institution_id"], proof["date"], proof["enrollment_id"], amount, root.sum,
        index, checkpoint,
    )  # fmt: skip
