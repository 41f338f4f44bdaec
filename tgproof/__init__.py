"""An independent verifier of TuitionGuard's liability proofs and public log (format v1 of
docs/proofs.md). It imports nothing of the service, the ledger or the tools: it can be copied
out alone and needs only Python and `cryptography` (for Ed25519)."""

from tgproof.errors import ProofError

__all__ = ["ProofError"]
