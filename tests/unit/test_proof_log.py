"""The public log (docs/proofs.md §4–5): RFC 9162 inclusion and consistency between every pair
of sizes up to 64, a rewritten entry caught, and checkpoints that count only with the log's
signature and a quorum of witness cosignatures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from service.proofs.log import MerkleLog
from service.proofs.signing import anchor_entry, checkpoint_body, log_signature, signed_note
from tgproof import log, note
from tgproof.errors import ProofError
from tgproof.witness import cosignature
from tools.cli import main
from tools.proofvectors import (
    ORIGIN,
    WITNESSES,
    cosigned_checkpoint,
    keys,
    keys_json,
    seeded_key,
)

ENTRIES = [f'{{"n":{i}}}'.encode() for i in range(64)]
FULL = MerkleLog(ENTRIES)


def test_the_root_follows_rfc_9162() -> None:
    a, b, c = (log.leaf_hash(e) for e in ENTRIES[:3])
    assert MerkleLog().root() == log.EMPTY_ROOT
    assert FULL.root(1) == a
    assert FULL.root(3) == log.node_hash(log.node_hash(a, b), c)


# The Certificate Transparency reference vectors (RFC 6962's tree, which RFC 9162 §2.1 keeps):
# eight leaves and the root of every prefix, as other implementations test them.
CT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
             bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]  # fmt: skip
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_the_roots_match_the_certificate_transparency_reference_vectors() -> None:
    ct = MerkleLog(CT_LEAVES)
    assert [ct.root(n).hex() for n in range(1, 9)] == CT_ROOTS


def test_inclusion_of_every_entry_in_every_size_up_to_64() -> None:
    for size in range(1, 65):
        root = FULL.root(size)
        for index in range(size):
            log.verify_inclusion(FULL.leaves[index], index, size, FULL.inclusion(index, size), root)
        with pytest.raises(ProofError):
            log.verify_inclusion(FULL.leaves[0], size, size, [], root)


def test_consistency_between_every_pair_of_sizes_up_to_64() -> None:
    for second in range(1, 65):
        for first in range(0, second + 1):
            proof = FULL.consistency(first, second)
            log.verify_consistency(first, second, proof, FULL.root(first), FULL.root(second))
            if 0 < first < second:  # a proof for one pair does not pass for a wrong root
                with pytest.raises(ProofError):
                    log.verify_consistency(first, second, proof, FULL.root(first - 1),
                                           FULL.root(second))  # fmt: skip


@pytest.mark.parametrize("rewritten", [0, 5, 31, 32, 40])
def test_a_rewritten_entry_is_caught(rewritten: int) -> None:
    """Anyone holding the checkpoint at size 41 rejects every later log that changed entry
    `rewritten`, whatever proof it serves."""
    old_size, old_root = 41, FULL.root(41)
    forged = MerkleLog([b"rewritten" if i == rewritten else e for i, e in enumerate(ENTRIES)])
    for second in range(old_size, 65):
        with pytest.raises(ProofError):
            log.verify_consistency(old_size, second, forged.consistency(old_size, second),
                                   old_root, forged.root(second))  # fmt: skip
    with pytest.raises(ProofError):
        log.verify_inclusion(forged.leaves[rewritten], rewritten, old_size,
                             forged.inclusion(rewritten, old_size), old_root)  # fmt: skip


def test_a_cosigned_checkpoint_verifies_and_names_its_size_and_root() -> None:
    found = note.verify_checkpoint(cosigned_checkpoint(FULL, 17), keys())
    assert (found.origin, found.size, found.root) == (ORIGIN, 17, FULL.root(17))


def test_too_few_cosignatures_fail_the_quorum() -> None:
    with pytest.raises(ProofError, match="fewer than the quorum of 2"):
        note.verify_checkpoint(cosigned_checkpoint(FULL, 17, quorum=1), keys())
    note.verify_checkpoint(cosigned_checkpoint(FULL, 17, quorum=1), keys(quorum=1))


def test_one_witness_signing_twice_counts_once() -> None:
    body = checkpoint_body(ORIGIN, FULL, 9)
    w = WITNESSES[0]
    text = signed_note(body, [log_signature(body, ORIGIN, seeded_key(ORIGIN)),
                              cosignature(body, w, seeded_key(w), 1),
                              cosignature(body, w, seeded_key(w), 2)])  # fmt: skip
    with pytest.raises(ProofError, match="has 1 valid witness"):
        note.verify_checkpoint(text, keys())


def test_a_tampered_root_or_a_wrong_key_fails() -> None:
    text = cosigned_checkpoint(FULL, 9)
    other = base64.b64encode(FULL.root(10)).decode()
    tampered = text.replace(base64.b64encode(FULL.root(9)).decode(), other)
    with pytest.raises(ProofError, match="signature of the log"):
        note.verify_checkpoint(tampered, keys())
    body = checkpoint_body(ORIGIN, FULL, 9)
    forged = signed_note(body, [log_signature(body, ORIGIN, seeded_key("someone else"))] +
                         [cosignature(body, w, seeded_key(w), 1) for w in WITNESSES])  # fmt: skip
    with pytest.raises(ProofError, match="signature of the log"):
        note.verify_checkpoint(forged, keys())


def test_a_witness_cosignature_cannot_stand_for_the_log_nor_the_log_for_a_witness() -> None:
    """Key IDs differ by type byte (0x01 the log, 0x04 a witness), so a signature made with
    the right private key under the wrong type is not accepted."""
    body = checkpoint_body(ORIGIN, FULL, 9)
    as_witness = cosignature(body, ORIGIN, seeded_key(ORIGIN), 1)
    lines = [as_witness] + [cosignature(body, w, seeded_key(w), 1) for w in WITNESSES]
    with pytest.raises(ProofError, match="signature of the log"):
        note.verify_checkpoint(signed_note(body, lines), keys())


@pytest.mark.parametrize(
    "text",
    ["", "no blank line\n", "a\n3\nAAAA\n\n— a AAAA\n", "a\n03\n" + "A" * 43 + "=\n\n— a x\n"],
)
def test_malformed_notes_fail_cleanly(text: str) -> None:
    with pytest.raises(ProofError):
        note.verify_checkpoint(text, keys())


def test_vkeys_check_their_key_id() -> None:
    good = keys().log.vkey()
    assert note.parse_vkey(good, note.LOG_KEY_TYPE) == keys().log
    name, _, key = good.split("+", 2)
    with pytest.raises(ProofError, match="key ID"):
        note.parse_vkey(f"{name}+{'0' * 8}+{key}", note.LOG_KEY_TYPE)
    with pytest.raises(ProofError):
        note.parse_vkey(good, note.COSIGNATURE_KEY_TYPE)


def test_the_cli_checks_consistency_between_two_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = MerkleLog([b"rewritten" if i == 2 else e for i, e in enumerate(ENTRIES)])
    files = {
        "keys.json": keys_json(keys()),
        "old.txt": cosigned_checkpoint(FULL, 10),
        "new.txt": cosigned_checkpoint(FULL, 30),
        "forged.txt": cosigned_checkpoint(forged, 30),  # the log itself signed a fork
        "proof.json": json.dumps(
            {"from": 10, "to": 30, "hashes": [h.hex() for h in FULL.consistency(10, 30)]}
        ),
        "forged-proof.json": json.dumps(
            {"from": 10, "to": 30, "hashes": [h.hex() for h in forged.consistency(10, 30)]}
        ),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")

    def run(*names: str) -> int:
        args = [str(tmp_path / n) for n in names]
        return main(["proof", "consistency", *args, "--keys", str(tmp_path / "keys.json")])

    assert run("old.txt", "new.txt", "proof.json") == 0
    assert "OK: the log at size 30 extends the log at size 10" in capsys.readouterr().out
    assert run("old.txt", "forged.txt", "forged-proof.json") == 1
    assert run("old.txt", "forged.txt", "proof.json") == 1
    assert run("new.txt", "old.txt", "proof.json") == 1  # from/to do not name these sizes
    assert "FAILED: " in capsys.readouterr().out
    assert run("old.txt", "missing.txt", "proof.json") == 2


def test_the_cli_checks_a_logged_anchor_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchored = MerkleLog([*ENTRIES[:5], anchor_entry("2027-03-01", 12, bytes(range(32)))])
    checkpoint = cosigned_checkpoint(anchored)
    logged = {"index": 5, "entry": anchored.entries[5].decode(),
              "inclusion": [h.hex() for h in anchored.inclusion(5)], "checkpoint": checkpoint}  # fmt: skip
    (tmp_path / "keys.json").write_text(keys_json(keys()), encoding="utf-8")

    def run(part: dict[str, object]) -> int:
        (tmp_path / "entry.json").write_text(json.dumps(part), encoding="utf-8")
        args = [str(tmp_path / "entry.json"), "--keys", str(tmp_path / "keys.json")]
        return main(["proof", "entry", *args])

    assert run(logged) == 0
    assert '"kind": "ledger_anchor"' in capsys.readouterr().out
    other_digest = logged["entry"].replace('"digest":"00', '"digest":"ff')  # type: ignore[attr-defined]
    assert run({**logged, "entry": other_digest}) == 1
    assert run({**logged, "entry": logged["entry"].replace(":", ": ")}) == 1  # type: ignore[attr-defined]
    assert run({**logged, "index": 4}) == 1
    assert run({**logged, "entry": '{"kind":"other"}'}) == 1
    assert "FAILED: " in capsys.readouterr().out


def test_a_signed_note_from_go_s_note_package_verifies() -> None:
    """The example of golang.org/x/mod/sumdb/note (the C2SP signed-note reference): its vkey's
    key ID and its Ed25519 signature line check out with our code, and an altered body fails."""
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    text = (
        "If you think cryptography is the answer to your problem,\n"
        "then you don't know what your problem is.\n\n"
        "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdn"
        "gotpRZb6KE6RyyBwJnAM=\n"
    )
    known = note.parse_vkey(vkey, note.LOG_KEY_TYPE)
    body, signatures = note.split_note(text)
    assert note.signed_by(known, body, signatures)
    assert not note.signed_by(known, body.replace("answer", "question"), signatures)
