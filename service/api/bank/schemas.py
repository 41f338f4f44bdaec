"""Request (`…In`) and response (`…Read`) bodies of the custody bank's API."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.api.schemas import BreakRead, Read
from service.flows.deposits import DepositAnswer
from service.flows.statements import Reconciled
from service.kit.money import Day, Instant, Money, PositiveMoney
from service.kit.wire import Strict


class DepositIn(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    account_no: str = Field(min_length=1, max_length=64)
    payment_reference: str = Field(max_length=80)
    amount: PositiveMoney
    paid_at: Instant


class DepositBatchIn(Strict):
    deposits: list[DepositIn] = Field(min_length=1, max_length=1000)


class ResultIn(Strict):
    status: Literal["executed", "rejected"]
    bank_txn_id: str = Field(min_length=1, max_length=80)
    executed_at: Instant
    reason: str | None = Field(default=None, max_length=500)


class StatementLineIn(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    direction: Literal["credit", "debit"]
    amount: PositiveMoney
    booked_at: Instant


class StatementIn(Strict):
    account_no: str = Field(min_length=1, max_length=64)
    statement_date: Day
    opening_balance: Money
    closing_balance: Money
    transactions: list[StatementLineIn] = Field(max_length=100_000)


class WhoAmIRead(Read):
    bank_id: str
    name: str
    code: str


class DepositRead(Read):
    """201 `posted` (it paid `enrollment_id`), or 202 `suspense` with its `reason`."""

    status: Literal["posted", "suspense"]
    deposit_id: str
    enrollment_id: str | None = None
    reason: Literal["unknown_reference", "amount_mismatch", "institution_frozen"] | None = None

    @classmethod
    def of(cls, a: DepositAnswer) -> DepositRead:
        return cls.model_validate(a, from_attributes=True)


class DepositResultRead(Read):
    """One deposit of a batch: what it would get alone (with that `http_status`), or
    `status: "error"` with the refusal's `code` (it changed nothing)."""

    status: Literal["posted", "suspense", "error"]
    deposit_id: str | None = None
    enrollment_id: str | None = None
    reason: str | None = None
    http_status: int | None = None
    code: str | None = None
    detail: str | None = None


class DepositBatchRead(Read):
    results: list[DepositResultRead]


class StatementRead(Read):
    status: Literal["matched", "breaks"]
    statement_id: str
    breaks: list[BreakRead]

    @classmethod
    def of(cls, r: Reconciled) -> StatementRead:
        return cls(
            status=r.statement.status,  # type: ignore[arg-type]
            statement_id=r.statement.id,
            breaks=[BreakRead.of(b) for b in r.breaks],
        )
