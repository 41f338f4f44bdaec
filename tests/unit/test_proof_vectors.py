"""docs/proofs.md's test vectors are what tools/proofvectors.py generates, and each altered
copy there fails for the reason it states."""

from __future__ import annotations

from pathlib import Path

from tools.proofvectors import (
    BEGIN,
    END,
    VECTOR_BALANCES,
    alterations,
    build_world,
    failure,
    render,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "proofs.md"


def test_the_vectors_in_docs_proofs_md_are_generated() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = BEGIN + text.partition(BEGIN)[2].partition(END)[0] + END
    assert found == render(), (
        "regenerate them: .venv/bin/python -m tools.proofvectors --write docs/proofs.md"
    )


def test_the_good_vector_verifies_and_every_altered_copy_fails() -> None:
    world = build_world(VECTOR_BALANCES)
    proof = world.proofs["enr_a"]
    assert failure(proof, world.keys) is None
    cases = alterations(proof)
    assert len(cases) >= 10
    assert all(failure(altered, world.keys) for _, altered in cases)


def test_the_doc_says_what_a_proof_does_not_show() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "## What a proof does not show" in text
    assert "does **not** show that the bank" in text
