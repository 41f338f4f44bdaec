"""A witness (docs/proofs.md §5, C2SP tlog-witness add-checkpoint) cosigns only consistent
extensions of the last checkpoint it cosigned, refuses a fork and a rollback with 409, keeps
its own, and remembers it across restarts."""

from __future__ import annotations

import base64
import os
import threading
from pathlib import Path

import httpx
import pytest

from service.proofs.log import MerkleLog
from service.proofs.signing import checkpoint_body, log_signature, signed_note, verifier
from tgproof import note
from tgproof.serve import make_server, read_key
from tgproof.witness import Witness
from tools.cli import main
from tools.proofvectors import ORIGIN, seeded_key

ENTRIES = [f'{{"n":{i}}}'.encode() for i in range(20)]
LOG = MerkleLog(ENTRIES)
FORGED = MerkleLog([b"rewritten" if i == 3 else e for i, e in enumerate(ENTRIES)])
NAME = "bank.example/witness"


def signed(merkle_log: MerkleLog, size: int, key_label: str = ORIGIN) -> str:
    body = checkpoint_body(ORIGIN, merkle_log, size)
    return signed_note(body, [log_signature(body, ORIGIN, seeded_key(key_label))])


def request(old: int, proof: list[bytes], checkpoint: str) -> str:
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + checkpoint


def extend(w: Witness, merkle_log: MerkleLog, old: int, new: int) -> tuple[int, str]:
    proof = merkle_log.consistency(old, new) if old else []
    answer = w.add_checkpoint(request(old, proof, signed(merkle_log, new)), now=1_800_000_000)
    return answer.status, answer.body


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    log_key = verifier(ORIGIN, seeded_key(ORIGIN), note.LOG_KEY_TYPE)
    return Witness(NAME, seeded_key(NAME), [log_key], str(tmp_path / "witness.sqlite"))


def test_it_cosigns_a_first_checkpoint_and_consistent_extensions(witness: Witness) -> None:
    status, line = extend(witness, LOG, 0, 5)
    assert status == 200
    keys = note.Keys(verifier(ORIGIN, seeded_key(ORIGIN), note.LOG_KEY_TYPE),
                     (verifier(NAME, seeded_key(NAME), note.COSIGNATURE_KEY_TYPE),), 1)  # fmt: skip
    assert note.verify_checkpoint(signed(LOG, 5) + line, keys).size == 5
    assert extend(witness, LOG, 5, 9)[0] == 200
    assert extend(witness, LOG, 9, 9)[0] == 200  # the same checkpoint again
    assert witness.latest(ORIGIN) == (9, LOG.root(9))


def test_a_fork_is_refused_with_409_and_the_witness_keeps_its_own(witness: Witness) -> None:
    assert extend(witness, LOG, 0, 9)[0] == 200
    assert extend(witness, FORGED, 9, 12) == (409, "9\n")
    assert extend(witness, FORGED, 9, 9) == (409, "9\n")  # same size, another root
    assert witness.latest(ORIGIN) == (9, LOG.root(9))
    assert extend(witness, LOG, 9, 12)[0] == 200  # the honest log still extends it


def test_a_rollback_or_a_stale_old_size_is_refused_with_409(witness: Witness) -> None:
    assert extend(witness, LOG, 0, 9)[0] == 200
    answer = witness.add_checkpoint(request(9, [], signed(LOG, 5)), now=1)
    assert (answer.status, answer.body, answer.content_type) == (409, "9\n", "text/x.tlog.size")
    assert extend(witness, LOG, 5, 12) == (409, "9\n")
    assert witness.latest(ORIGIN) == (9, LOG.root(9))


def test_a_wrong_proof_is_refused(witness: Witness) -> None:
    assert extend(witness, LOG, 0, 8)[0] == 200
    bad = witness.add_checkpoint(request(8, LOG.consistency(7, 12), signed(LOG, 12)), now=1)
    assert bad.status == 409 and witness.latest(ORIGIN)[0] == 8


def test_unsigned_unknown_or_malformed_checkpoints_are_refused(witness: Witness) -> None:
    assert (
        witness.add_checkpoint(request(0, [], signed(LOG, 5, "not the log")), now=1).status == 403
    )
    other = signed(LOG, 5).replace(ORIGIN, "other.example/log")
    assert witness.add_checkpoint(request(0, [], other), now=1).status == 404
    for text in ("", "old x\n\n" + signed(LOG, 5), "old 0\n\nnot a note", "old 01\n\n"):
        assert witness.add_checkpoint(text, now=1).status == 400
    assert witness.latest(ORIGIN) == (0, LOG.root(0))


def test_the_witness_remembers_across_restarts(tmp_path: Path) -> None:
    log_key = verifier(ORIGIN, seeded_key(ORIGIN), note.LOG_KEY_TYPE)
    path = str(tmp_path / "w.sqlite")
    first = Witness(NAME, seeded_key(NAME), [log_key], path)
    assert extend(first, LOG, 0, 9)[0] == 200
    again = Witness(NAME, seeded_key(NAME), [log_key], path)
    assert extend(again, FORGED, 0, 12) == (409, "9\n")


def test_the_witness_serves_add_checkpoint_over_http(witness: Witness) -> None:
    server = make_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        first = httpx.post(f"{url}/add-checkpoint", content=request(0, [], signed(LOG, 5)))
        assert first.status_code == 200 and first.text.startswith(f"— {NAME} ")
        fork = request(5, FORGED.consistency(5, 9), signed(FORGED, 9))
        refused = httpx.post(f"{url}/add-checkpoint", content=fork)
        assert (refused.status_code, refused.text) == (409, "5\n")
        assert refused.headers["content-type"] == "text/x.tlog.size"
        assert httpx.post(f"{url}/other", content="x").status_code == 404
        assert httpx.post(f"{url}/add-checkpoint", content=b"\xff\n").status_code == 400
    finally:
        server.shutdown()
        server.server_close()


def test_witness_key_makes_a_key_once_and_prints_its_vkey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "w.key")
    assert main(["witness", "key", "--name", NAME, "--out", path]) == 0
    vkey = capsys.readouterr().out.strip()
    found = note.parse_vkey(vkey, note.COSIGNATURE_KEY_TYPE)
    assert found == verifier(NAME, read_key(path), note.COSIGNATURE_KEY_TYPE)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert main(["witness", "key", "--name", NAME, "--out", path]) == 2
