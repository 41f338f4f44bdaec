"""Wire shapes of the money flows (bank, institution, parent, regulator)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt

from service.kit.money import Day, Instant, Money, PositiveMoney
from service.kit.wire import Strict


class DepositBody(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    account_no: str = Field(min_length=1, max_length=64)
    payment_reference: str = Field(max_length=80)
    amount: PositiveMoney
    paid_at: Instant


class DepositBatchBody(Strict):
    deposits: list[DepositBody] = Field(min_length=1, max_length=1000)


class ResultBody(Strict):
    status: Literal["executed", "rejected"]
    bank_txn_id: str = Field(min_length=1, max_length=80)
    executed_at: Instant
    reason: str | None = Field(default=None, max_length=500)


class StatementLine(Strict):
    bank_txn_id: str = Field(min_length=1, max_length=80)
    direction: Literal["credit", "debit"]
    amount: PositiveMoney
    booked_at: Instant


class StatementBody(Strict):
    account_no: str = Field(min_length=1, max_length=64)
    statement_date: Day
    opening_balance: Money
    closing_balance: Money
    transactions: list[StatementLine] = Field(max_length=100_000)


class EnrollmentBody(Strict):
    course_id: str = Field(min_length=1, max_length=40)
    student_ref: str = Field(min_length=1, max_length=100)
    lessons: StrictInt = Field(ge=1, le=1000)
    amount: PositiveMoney


class ConsumptionBody(Strict):
    lessons: StrictInt = Field(ge=1, le=1000)
    occurred_at: Instant
    session_ref: str | None = Field(default=None, max_length=80)


class RespondBody(Strict):
    decision: Literal["accept", "dispute"]
    reason: str = Field(min_length=1, max_length=2000)


class RefundDecisionBody(Strict):
    decision: Literal["approve", "deny"]
    reason: str = Field(min_length=1, max_length=2000)


class ConsumptionDecisionBody(Strict):
    decision: Literal["uphold", "reverse"]
    reason: str = Field(min_length=1, max_length=2000)


class ParentSessionBody(Strict):
    enrollment_id: str = Field(min_length=1, max_length=40)
    access_code: str = Field(min_length=1, max_length=40)


class ParentRefundBody(Strict):
    lessons: StrictInt | None = Field(default=None, ge=1, le=1000)
    reason: str = Field(min_length=1, max_length=2000)


class DisputeBody(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class ComplaintBody(Strict):
    category: Literal["refund", "teaching_stopped", "asked_to_pay_off_platform", "quality", "other"]
    text: str = Field(min_length=1, max_length=5000)


class JobRunBody(Strict):
    as_of: Instant | None = None


class MatchBody(Strict):
    enrollment_id: str = Field(min_length=1, max_length=40)


class RegionSettingBody(Strict):
    region_code: str = Field(pattern=r"^\d{6}$")
    key: str = Field(min_length=1, max_length=64)
    value: StrictInt | StrictBool | dict[str, dict[str, Any]]
