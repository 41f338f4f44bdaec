"""Response bodies more than one caller reads (`…Read`), each built from a domain value by
`of`. Money is always `MoneyOut` (a string of two decimals), instants `InstantOut`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from service.fees.models import Course
from service.flows import enrollments, refunds
from service.flows.balances import InstitutionBalances
from service.flows.models import (
    Consumption,
    Deposit,
    Enrollment,
    Refund,
    RefundEvent,
    StatementBreak,
)
from service.kit.money import InstantOut, MoneyOut
from service.risk.models import Alert, RiskEvaluation


class Read(BaseModel):
    model_config = ConfigDict(frozen=True)


T = TypeVar("T")


class Page(Read, Generic[T]):
    """One page of a list: `next_cursor` fetches the next, null at the end."""

    items: list[T]
    next_cursor: str | None = None


class BalancesRead(Read):
    """An institution's balances (docs/api.md): escrow = prepaid_outstanding + earned_unreleased +
    suspense."""

    escrow: MoneyOut
    prepaid_outstanding: MoneyOut
    earned_unreleased: MoneyOut
    suspense: MoneyOut
    released: MoneyOut

    @classmethod
    def of(cls, b: InstitutionBalances) -> BalancesRead:
        return cls.model_validate(b, from_attributes=True)


class ReserveBalancesRead(BalancesRead):
    """For an institution in reserve mode: the risk reserve as well."""

    reserve: MoneyOut


SupervisedBalancesRead = ReserveBalancesRead | BalancesRead


def supervised_balances(b: InstitutionBalances, *, reserve_mode: bool) -> SupervisedBalancesRead:
    """As the regulator sees them: with the reserve where it guarantees the refunds."""
    if reserve_mode:
        return ReserveBalancesRead(**BalancesRead.of(b).model_dump(), reserve=b.reserve)
    return BalancesRead.of(b)


class IndicatorRead(Read):
    code: str
    value: str
    threshold: str
    contribution: int
    floor: str | None = None
    evidence: list[str] = []


class RiskRead(Read):
    """The latest evaluation; all null until the first sweep has evaluated the institution
    (no score is made up)."""

    score: int | None
    level: str | None
    evaluated_at: InstantOut | None

    @classmethod
    def of(cls, latest: RiskEvaluation | None) -> RiskRead:
        if latest is None:
            return cls(score=None, level=None, evaluated_at=None)
        return cls(score=latest.score, level=latest.level, evaluated_at=latest.as_of)


class RiskDetailRead(RiskRead):
    indicators: list[IndicatorRead]

    @classmethod
    def detail(cls, latest: RiskEvaluation | None) -> RiskDetailRead:
        found = [IndicatorRead(**i) for i in latest.indicators] if latest is not None else []
        return cls(**RiskRead.of(latest).model_dump(), indicators=found)


class TimelineEventRead(Read):
    status: str
    at: InstantOut
    note: str | None


class RefundRead(Read):
    id: str
    enrollment_id: str
    institution_id: str
    amount: MoneyOut
    lessons: int
    status: str
    reason: str | None
    requested_at: InstantOut
    respond_by: InstantOut
    respond_by_provisional: bool = Field(
        description="counted over a year whose holiday arrangement is not yet published"
    )
    instruction_id: str | None
    pay_by: InstantOut | None = Field(
        default=None,
        description="consented to: the bank is to pay it by then (the pack's "
        "refund_payment_deadline, in working days)",
    )
    pay_by_provisional: bool = Field(
        default=False,
        description="pay_by counted over a year whose holiday arrangement is not yet published",
    )
    payment_overdue: bool = Field(
        default=False, description="instructed and still not paid after pay_by"
    )

    @classmethod
    def of(cls, r: Refund, now: datetime | None = None) -> RefundRead:
        read = cls.model_validate(r, from_attributes=True)
        as_of = now or datetime.now(UTC)
        return read.model_copy(update={"payment_overdue": refunds.is_payment_overdue(r, as_of)})


class RefundTimelineRead(RefundRead):
    """A refund with every step it went through, in order."""

    timeline: list[TimelineEventRead]

    @classmethod
    def with_events(
        cls, r: Refund, events: list[RefundEvent], now: datetime | None = None
    ) -> RefundTimelineRead:
        steps = [TimelineEventRead.model_validate(e, from_attributes=True) for e in events]
        return cls(**RefundRead.of(r, now).model_dump(), timeline=steps)


class ConsumptionRead(Read):
    id: str
    enrollment_id: str
    lessons: int
    amount: MoneyOut
    occurred_at: InstantOut
    reported_at: InstantOut
    confirm_until: InstantOut
    confirm_until_provisional: bool = Field(
        description="counted over a year whose holiday arrangement is not yet published"
    )
    status: str = Field(description="pending | confirmed | disputed | reversed")
    released: bool
    off_timetable: bool

    @classmethod
    def of(cls, c: Consumption, now: datetime) -> ConsumptionRead:
        from service.flows.consumptions import parent_status

        return cls(
            id=c.id,
            enrollment_id=c.enrollment_id,
            lessons=c.lessons,
            amount=c.amount,
            occurred_at=c.occurred_at,
            reported_at=c.reported_at,
            confirm_until=c.confirm_until,
            confirm_until_provisional=c.confirm_until_provisional,
            status=parent_status(c, now),
            released=c.release_instruction_id is not None,
            off_timetable=c.off_timetable,
        )


class DepositRead(Read):
    id: str
    bank_txn_id: str
    account_no: str
    institution_id: str
    payment_reference: str
    amount: MoneyOut
    paid_at: InstantOut
    received_at: InstantOut
    status: str
    reason: str | None
    enrollment_id: str | None
    target: str

    @classmethod
    def of(cls, d: Deposit) -> DepositRead:
        return cls.model_validate(d, from_attributes=True)


class BreakRead(Read):
    kind: str = Field(description="missing_in_ledger | missing_in_statement | amount_differs | …")
    direction: str | None
    bank_txn_id: str | None
    expected: MoneyOut | None
    actual: MoneyOut | None

    @classmethod
    def of(cls, b: StatementBreak) -> BreakRead:
        return cls.model_validate(b, from_attributes=True)


class AlertRead(Read):
    id: str
    institution_id: str
    level: str
    score: int
    status: str
    opened_at: InstantOut
    indicators: list[IndicatorRead]
    acknowledged_at: InstantOut | None
    acknowledge_note: str | None
    resolved_at: InstantOut | None
    resolve_note: str | None
    assignee_id: str | None = None
    assignee_officer_id: str | None = None  # the officer of that office who claimed it
    snoozed_until: InstantOut | None = None
    escalated_to: str | None = None
    outcome: str | None = None
    opened_level: str | None = None  # `level` is the case's now (raised as it worsened)

    @classmethod
    def of(cls, a: Alert) -> AlertRead:
        return cls.model_validate(a, from_attributes=True)


class CourseRead(Read):
    id: str
    title: str
    subject: str
    category: str
    grade_band: str
    mode: str
    class_size: int
    lesson_minutes: int
    lessons_total: int
    price_per_lesson: MoneyOut
    list_price_per_lesson: MoneyOut | None
    card_kind: str | None = Field(
        default=None,
        description="a gym's kind of prepaid card: sessions | membership | stored_value",
    )
    status: str = Field(description="approved | rejected")
    violations: list[dict[str, Any]]
    price_check: dict[str, Any] | None
    filed_at: InstantOut

    @classmethod
    def of(cls, c: Course) -> CourseRead:
        return cls.model_validate(c, from_attributes=True)


class EnrollmentRead(Read):
    id: str
    course_id: str
    student_ref: str
    status: str
    lessons: int
    lessons_consumed: int
    lessons_refunded: int
    lessons_remaining: int
    amount_due: MoneyOut
    amount_paid: MoneyOut
    amount_consumed: MoneyOut
    amount_refunded: MoneyOut
    balance: MoneyOut
    payment_reference: str
    enrolled_at: InstantOut
    pay_by: InstantOut | None = Field(
        default=None,
        description="unpaid by then, the order lapses (takes no payment, then cancelled)",
    )
    pay_by_provisional: bool = Field(
        default=False,
        description="pay_by counted over a year whose holiday arrangement is not yet published",
    )
    member_to_name: bool = Field(
        default=False,
        description="a transferred enrollment whose member the successor has not yet named "
        "(POST /enrollments/{id}/member): it takes no lesson report until then",
    )

    @classmethod
    def of(cls, e: Enrollment) -> EnrollmentRead:
        return cls(
            id=e.id,
            course_id=e.course_id,
            student_ref=e.student_ref,
            status=e.status,
            lessons=e.lessons,
            lessons_consumed=e.lessons_consumed,
            lessons_refunded=e.lessons_refunded,
            lessons_remaining=enrollments.remaining_lessons(e),
            amount_due=e.amount_due,
            amount_paid=e.amount_paid,
            amount_consumed=e.amount_consumed,
            amount_refunded=e.amount_refunded,
            balance=enrollments.balance(e),
            payment_reference=e.payment_reference,
            enrolled_at=e.enrolled_at,
            pay_by=e.pay_by,
            pay_by_provisional=e.pay_by_provisional,
            member_to_name=e.member_to_name,
        )
