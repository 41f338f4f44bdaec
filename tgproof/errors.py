"""The one failure a verifier reports: a proof that does not hold, and why."""

from __future__ import annotations


class ProofError(ValueError):
    """A proof, log proof or checkpoint that does not verify; the message says which check."""
