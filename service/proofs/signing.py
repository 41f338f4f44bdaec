"""Checkpoints signed by the log (docs/proofs.md §5; witnesses cosign with
`tgproof.witness`), the log's entries (§4) and a parent's full proof (§3)."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service.proofs.log import MerkleLog
from service.proofs.snapshot import Snapshot, leaf_proofs
from tgproof import note
from tgproof.proof import canonical, yuan


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifier(name: str, key: Ed25519PrivateKey, key_type: int) -> note.Verifier:
    return note.Verifier(name, key_type, public_bytes(key))


def checkpoint_body(origin: str, merkle_log: MerkleLog, size: int | None = None) -> str:
    size = merkle_log.size if size is None else size
    return note.Checkpoint(origin, size, merkle_log.root(size)).body()


def log_signature(body: str, name: str, key: Ed25519PrivateKey) -> str:
    """The log's signature line over a checkpoint body."""
    kid = note.key_id(name, note.LOG_KEY_TYPE, public_bytes(key))
    blob = kid + key.sign(body.encode())
    return f"{note.SIGNATURE_DASH}{name} {base64.b64encode(blob).decode()}\n"


def signed_note(body: str, lines: list[str]) -> str:
    return body + "\n" + "".join(lines)


def liabilities_entry(
    snapshot: Snapshot, institution_id: str, date: str,
    attested_balance: str | None = None, statement_id: str | None = None,
) -> bytes:  # fmt: skip
    return liabilities_entry_of(
        snapshot.snapshot_id, institution_id, date, leaf_count=snapshot.leaf_count,
        root=snapshot.root.hash, total=snapshot.root.sum,
        attested_balance=attested_balance, statement_id=statement_id,
    )  # fmt: skip


def liabilities_entry_of(
    snapshot_id: str, institution_id: str, date: str, *, leaf_count: int, root: bytes,
    total: int, attested_balance: str | None, statement_id: str | None,
) -> bytes:  # fmt: skip
    """§4's `liabilities` entry; `total` in fen."""
    return canonical(
        {"attested_balance": attested_balance, "date": date, "institution_id": institution_id,
         "kind": "liabilities", "leaf_count": leaf_count, "root": root.hex(),
         "snapshot_id": snapshot_id, "statement_id": statement_id, "total": yuan(total)}
    )  # fmt: skip


def anchor_entry(date: str, accounts: int, digest: bytes) -> bytes:
    return canonical(
        {"accounts": accounts, "date": date, "digest": digest.hex(), "kind": "ledger_anchor"}
    )


def parent_proof(
    snapshot: Snapshot, institution_id: str, date: str, enrollment_id: str,
    merkle_log: MerkleLog, log_index: int, checkpoint: str,
) -> dict[str, Any]:  # fmt: skip
    """§3's answer for one enrollment, against the log as of `checkpoint`'s size."""
    leaves = leaf_proofs(snapshot, enrollment_id)
    size = note.parse_checkpoint(note.split_note(checkpoint)[0]).size
    return {
        "version": 1, "snapshot_id": snapshot.snapshot_id, "institution_id": institution_id,
        "date": date, "leaf_count": snapshot.leaf_count,
        "root": {"hash": snapshot.root.hash.hex(), "sum": snapshot.root.sum},
        "enrollment_id": enrollment_id, "amount": yuan(sum(x["amount"] for x in leaves)),
        "leaves": leaves,
        "log": {"index": log_index, "entry": merkle_log.entries[log_index].decode(),
                "inclusion": [h.hex() for h in merkle_log.inclusion(log_index, size)],
                "checkpoint": checkpoint},
    }  # fmt: skip
