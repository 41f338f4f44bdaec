"""`tuitionguard proof verify FILE --keys KEYS`: check a parent's downloaded proof against the
log's published keys (the JSON of `/.well-known/tuitionguard-log-keys`), with nothing of the
service. Exit status 0 when it holds, 1 when it fails, 2 when a file cannot be read."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from tgproof import note
from tgproof.errors import ProofError
from tgproof.proof import verify_parent_proof, yuan


def verify_file(proof_path: str, keys_path: str, out: TextIO = sys.stdout) -> int:
    try:
        with open(proof_path, encoding="utf-8") as f:
            proof_text = f.read()
        with open(keys_path, encoding="utf-8") as f:
            keys_text = f.read()
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
