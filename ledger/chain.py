"""Content hashes (for idempotency) and the per-ledger SHA-256 hash chain (for tamper evidence)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ledger.models import NewTransfer, Operation

US = "\x1f"  # unit separator: cannot occur in ids, codes or formatted amounts


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


@lru_cache(maxsize=256)
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
    return hashlib.sha256(US.join(parts).encode()).hexdigest()


def link_tail(
    *,
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
    """The part of a link's preimage that the writer knows before it locks the chain head.
    PostgreSQL's single-transfer statement finishes the link in SQL from this (`link_sql`),
    so the field formatting lives here only."""
    return US.join(
        [
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
    )


def link_hash(*, prev_hash: str, id: str, ledger: str, chain_seq: int, **fields: Any) -> str:
    """SHA-256 over the previous link and every stored field of the transfer (`fields` are
    `link_tail`'s)."""
    return link_of(prev_hash, id, ledger, chain_seq, link_tail(**fields))


def link_of(prev_hash: str, id: str, ledger: str, chain_seq: int, tail: str) -> str:
    """`link_hash` from a tail made beforehand: a batch formats its tails before it locks the
    chain heads, and only this is left to do under the lock."""
    preimage = US.join([prev_hash, id, ledger, str(chain_seq), tail])
    return hashlib.sha256(preimage.encode()).hexdigest()


def link_sql(prev: str, id: str, ledger: str, seq: str, tail: str) -> str:
    """The same hash as a PostgreSQL expression over the given SQL operands, for the statement
    that locks a chain head and links to it in one round trip."""
    return (
        f"encode(sha256(convert_to(concat_ws(E'\\x1f', {prev}, {id}, {ledger}, ({seq})::text, "
        f"{tail}), 'UTF8')), 'hex')"
    )
