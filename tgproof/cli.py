"""`tuitionguard proof verify FILE --keys KEYS` checks a parent's downloaded proof, and
`tuitionguard proof consistency OLD NEW PROOF --keys KEYS` that a newer checkpoint extends an
older one, against the log's published keys (the JSON of `/.well-known/tuitionguard-log-keys`),
with nothing of the service. Exit status 0 when it holds, 1 when it fails, 2 when a file
cannot be read."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from tgproof import log, note
from tgproof.errors import ProofError
from tgproof.proof import hex32, verify_log_entry, verify_parent_proof, whole, yuan


def _read(*paths: str) -> list[str]:
    found = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            found.append(f.read())
    return found


def verify_file(proof_path: str, keys_path: str, out: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up now: the caller may have redirected it
    try:
        proof_text, keys_text = _read(proof_path, keys_path)
    except OSError as e:
        print(f"cannot read: {e}", file=out)
        return 2
    try:
        keys = note.parse_keys(keys_text)
        try:
            proof = json.loads(proof_text)
        except ValueError as e:
            raise ProofError("the proof is not JSON") from e
        found = verify_parent_proof(proof, keys)
    except ProofError as e:
        print(f"FAILED: {e}", file=out)
        return 1
    print(
        f"OK: enrollment {found.enrollment_id} is owed {yuan(found.amount_fen)} yuan, counted in "
        f"{found.institution_id}'s liabilities of {yuan(found.total_fen)} yuan on {found.date}; "
        f"log entry {found.log_index} of the checkpoint of size {found.checkpoint.size}, "
        f"signed by the log and cosigned by at least {keys.quorum} witnesses",
        file=out,
    )
    return 0


def verify_consistency_files(
    old_path: str, new_path: str, proof_path: str, keys_path: str, out: TextIO | None = None
) -> int:
    """Both checkpoints signed and cosigned, and the proof (`{from, to, hashes}` of
    `GET /public/log/proof/consistency`) showing the newer extends the older."""
    out = out or sys.stdout
    try:
        old_text, new_text, proof_text, keys_text = _read(old_path, new_path, proof_path, keys_path)
    except OSError as e:
        print(f"cannot read: {e}", file=out)
        return 2
    try:
        keys = note.parse_keys(keys_text)
        old = note.verify_checkpoint(old_text, keys)
        new = note.verify_checkpoint(new_text, keys)
        try:
            proof = json.loads(proof_text)
            hashes = [hex32(h, "consistency hash") for h in proof["hashes"]]
            sizes = (whole(proof["from"], "from"), whole(proof["to"], "to"))
        except (ValueError, KeyError, TypeError) as e:
            raise ProofError("the consistency proof is not {from, to, hashes}") from e
        if sizes != (old.size, new.size):
            raise ProofError(
                f"the proof is from {sizes[0]} to {sizes[1]}, not {old.size} to {new.size}"
            )
        log.verify_consistency(old.size, new.size, hashes, old.root, new.root)
    except ProofError as e:
        print(f"FAILED: {e}", file=out)
        return 1
    print(f"OK: the log at size {new.size} extends the log at size {old.size}", file=out)
    return 0


def verify_entry_file(entry_path: str, keys_path: str, out: TextIO | None = None) -> int:
    """A logged entry (`{index, entry, inclusion, checkpoint}`, a proof's `log` part or a
    ledger anchor's) included in a signed, cosigned checkpoint; prints the entry."""
    out = out or sys.stdout
    try:
        entry_text, keys_text = _read(entry_path, keys_path)
    except OSError as e:
        print(f"cannot read: {e}", file=out)
        return 2
    try:
        keys = note.parse_keys(keys_text)
        try:
            part = json.loads(entry_text)
        except ValueError as e:
            raise ProofError("the entry file is not JSON") from e
        entry, index, checkpoint = verify_log_entry(part, keys)
    except ProofError as e:
        print(f"FAILED: {e}", file=out)
        return 1
    print(f"OK: entry {index} of the checkpoint of size {checkpoint.size}, signed by the log and "
          f"cosigned by at least {keys.quorum} witnesses: {json.dumps(entry, ensure_ascii=False)}",
          file=out)  # fmt: skip
    return 0
