"""The TuitionGuard escrow ledger: double-entry, two-phase, append-only, hash-chained.

A library with a small exact API over a SQLAlchemy `Connection`; it knows nothing of the web
service that calls it. See docs/ledger.md for the guarantees and error codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine

from ledger.accounts import account_ids, close_account, find_account, get_account, open_account
from ledger.amounts import cumulative_share, fen, slice_amount, split
from ledger.balances import (
    balance,
    balances,
    history,
    kind_accounts,
    kind_balances,
    kind_balances_as_of,
    kind_credit_fen_as_of,
    locked_balances,
    owned_accounts,
    owner_balances,
    sum_transfers,
)
from ledger.bulk import copy_binary, copy_rows
from ledger.errors import LedgerCorrupted, LedgerError
from ledger.lists import one_of
from ledger.models import (
    Account,
    Balance,
    HistoryLine,
    NewTransfer,
    Operation,
    Resolve,
    Transfer,
)
from ledger.postings import apply, apply_alone, expire_due
from ledger.prebuilt import prebuilt
from ledger.schema import metadata
from ledger.transactions import is_retryable, run_transaction
from ledger.verify import (
    TrialBalance,
    VerifyReport,
    anchor_digest,
    chain_heads,
    chain_heads_at_day_end,
    trial_balance,
    verify,
)


def transfer(
    conn: Connection,
    *,
    debit: str,
    credit: str,
    amount: Decimal,
    code: str,
    at: datetime,
    reference: str | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """Move `amount` from `debit` to `credit` at once (single-phase)."""
    op = _single_phase(debit, credit, amount, code, reference, idempotency_key)
    return apply(conn, [op], at=at)[0]


def _single_phase(
    debit: str,
    credit: str,
    amount: Decimal,
    code: str,
    reference: str | None,
    idempotency_key: str | None,
) -> NewTransfer:
    return NewTransfer(
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        code=code,
        pending=False,
        expires_at=None,
        reference=reference,
        idempotency_key=idempotency_key,
    )


def transfer_alone(
    engine: Engine,
    *,
    debit: str,
    credit: str,
    amount: Decimal,
    code: str,
    at: datetime,
    reference: str | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """`transfer` as a database transaction of its own, committed when it returns, for a
    caller with nothing else to do in that transaction: one round trip on PostgreSQL."""
    op = _single_phase(debit, credit, amount, code, reference, idempotency_key)
    return apply_alone(engine, op, at=at)


def hold(
    conn: Connection,
    *,
    debit: str,
    credit: str,
    amount: Decimal,
    code: str,
    at: datetime,
    expires_at: datetime | None = None,
    reference: str | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """Reserve `amount` as a pending transfer, to be posted, voided or expired exactly once."""
    op = NewTransfer(
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        code=code,
        pending=True,
        expires_at=expires_at,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    return apply(conn, [op], at=at)[0]


def post(
    conn: Connection,
    *,
    pending_id: str,
    at: datetime,
    amount: Decimal | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """Post a hold, in full or (`amount`) in part; the rest returns to the accounts."""
    return apply(
        conn,
        [
            Resolve(
                pending_id=pending_id, action="post", amount=amount, idempotency_key=idempotency_key
            )
        ],
        at=at,
    )[0]


def void(
    conn: Connection, *, pending_id: str, at: datetime, idempotency_key: str | None = None
) -> Transfer:
    """Cancel a hold: the whole amount returns to the accounts."""
    return apply(
        conn,
        [
            Resolve(
                pending_id=pending_id, action="void", amount=None, idempotency_key=idempotency_key
            )
        ],
        at=at,
    )[0]


def batch(conn: Connection, ops: Sequence[Operation], *, at: datetime) -> list[Transfer]:
    """Apply many operations atomically: all or nothing."""
    return apply(conn, ops, at=at)


__all__ = [
    "Account",
    "Balance",
    "HistoryLine",
    "LedgerCorrupted",
    "LedgerError",
    "NewTransfer",
    "Operation",
    "Resolve",
    "Transfer",
    "TrialBalance",
    "VerifyReport",
    "account_ids",
    "anchor_digest",
    "apply",
    "balance",
    "balances",
    "batch",
    "chain_heads",
    "chain_heads_at_day_end",
    "close_account",
    "copy_binary",
    "copy_rows",
    "cumulative_share",
    "expire_due",
    "fen",
    "find_account",
    "get_account",
    "history",
    "hold",
    "is_retryable",
    "kind_accounts",
    "kind_balances",
    "kind_balances_as_of",
    "kind_credit_fen_as_of",
    "locked_balances",
    "metadata",
    "one_of",
    "open_account",
    "owned_accounts",
    "owner_balances",
    "post",
    "prebuilt",
    "run_transaction",
    "slice_amount",
    "split",
    "sum_transfers",
    "transfer",
    "transfer_alone",
    "trial_balance",
    "verify",
    "void",
]
