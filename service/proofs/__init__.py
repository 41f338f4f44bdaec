"""Liability proofs and the public log, the builder's side (docs/proofs.md): a day's Merkle sum
tree with each parent's proof, the RFC 9162 log with its proofs, and signed checkpoints. The
checks are `tgproof`'s, which stands apart so that anyone can run it."""
