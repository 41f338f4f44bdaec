"""Content hashes (for idempotency) and the per-ledger SHA-256 hash chain (for tamper evidence)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

from ledger.models import NewTransfer, Operation


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _instant(value: datetime | None) -> str:
    """Always in UTC: the same instant must hash the same whatever offset it was given in."""
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


def content_hash(op: Operation) -> str:
    """What an idempotency key promises: the same key must carry the same request."""
    if isinstance(op, NewTransfer):
        parts = [
            "new",
            op.debit_account_id,
            op.credit_account_id,
            _amount(op.amount),
            op.code,
            "pending" if op.pending else "posted",
            _instant(op.expires_at),
            op.reference or "",
        ]
    else:
        parts = ["resolve", op.pending_id, op.action, _amount(op.amount), op.reference or ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def link_hash(
    *,
    prev_hash: str,
    id: str,
    ledger: str,
    chain_seq: int,
    debit_account_id: str,
    credit_account_id: str,
    amount: Decimal,
    kind: str,
    code: str,
    pending_id: str | None,
    expires_at: datetime | None,
    reference: str | None,
    idempotency_key: str | None,
    content_hash: str,
    created_at: datetime,
) -> str:
    """SHA-256 over the previous link and every stored field of the transfer."""
    parts = [
        prev_hash,
        id,
        ledger,
        str(chain_seq),
        debit_account_id,
        credit_account_id,
        _amount(amount),
        kind,
        code,
        pending_id or "",
        _instant(expires_at),
        reference or "",
        idempotency_key or "",
        content_hash,
        _instant(created_at),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
