"""TuitionGuard: the supervision service built on the escrow ledger."""
