"""Plain immutable records the ledger returns. No ORM: callers get values, not live rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ledger.amounts import ZERO

TransferKind = Literal["posted", "pending", "post_pending", "void_pending", "expire_pending"]


@dataclass(frozen=True)
class Balance:
    """The four TigerBeetle balances of an account at one instant."""

    debits_posted: Decimal = ZERO
    credits_posted: Decimal = ZERO
    debits_pending: Decimal = ZERO
    credits_pending: Decimal = ZERO

    @property
    def credit_balance(self) -> Decimal:
        """Posted credits less posted debits: what a liability account owes."""
        return self.credits_posted - self.debits_posted

    @property
    def debit_balance(self) -> Decimal:
        """Posted debits less posted credits: what an asset account holds."""
        return self.debits_posted - self.credits_posted

    @property
    def credit_available(self) -> Decimal:
        """What a liability can still give up: its credit balance less debits on hold."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    @property
    def debit_available(self) -> Decimal:
        """What an asset can still pay out: its debit balance less credits on hold."""
        return self.debits_posted - self.credits_posted - self.credits_pending

    def __add__(self, other: Balance) -> Balance:
        return Balance(
            self.debits_posted + other.debits_posted,
            self.credits_posted + other.credits_posted,
            self.debits_pending + other.debits_pending,
            self.credits_pending + other.credits_pending,
        )


@dataclass(frozen=True)
class Account:
    id: str
    ledger: str
    kind: str
    owner: str
    currency: str
    balance: Balance
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    closed: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Account:
        m = row._mapping
        return cls(
            id=m["id"],
            ledger=m["ledger"],
            kind=m["kind"],
            owner=m["owner"],
            currency=m["currency"],
            balance=Balance(
                m["debits_posted"], m["credits_posted"], m["debits_pending"], m["credits_pending"]
            ),
            debits_must_not_exceed_credits=bool(m["debits_must_not_exceed_credits"]),
            credits_must_not_exceed_debits=bool(m["credits_must_not_exceed_debits"]),
            closed=bool(m["closed"]),
            created_at=m["created_at"],
        )


@dataclass(frozen=True)
class Transfer:
    id: str
    ledger: str
    chain_seq: int
    debit_account_id: str
    credit_account_id: str
    amount: Decimal
    kind: TransferKind
    code: str
    pending_id: str | None
    expires_at: datetime | None
    reference: str | None
    idempotency_key: str | None
    content_hash: str
    created_at: datetime
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, row: Any) -> Transfer:
        m = row._mapping
        return cls(**{f: m[f] for f in cls.__dataclass_fields__})


@dataclass(frozen=True, kw_only=True)
class NewTransfer:
    """A transfer to make: single-phase (`pending=False`) or a hold (`pending=True`)."""

    debit_account_id: str
    credit_account_id: str
    amount: Decimal
    code: str
    pending: bool = False
    expires_at: datetime | None = None
    reference: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class Resolve:
    """Resolve a hold: `post` (all, or `amount` of it, the rest returned), `void`, `expire`."""

    pending_id: str
    action: Literal["post", "void", "expire"]
    amount: Decimal | None = None
    idempotency_key: str | None = None
    reference: str | None = None


Operation = NewTransfer | Resolve


@dataclass(frozen=True)
class HistoryLine:
    transfer: Transfer
    debit: Decimal
    credit: Decimal
    running_credit_balance: Decimal
