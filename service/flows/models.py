"""Money-flow tables. Amounts are yuan (`Money`), from the point of view named in each comment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import Money, UTCDateTime
from service.kit.db import Base


class Enrollment(Base):
    """A parent's purchase of `lessons` sessions of a course, paid once into escrow."""

    __tablename__ = "enrollments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Indexed by ix_enrollments_consumer below, whose leading column it is (every index here is
    # written again by a deposit's update of the row, a thousand in a bank's batch).
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"), index=True)
    student_ref: Mapped[str] = mapped_column(String(100))
    lessons: Mapped[int] = mapped_column(Integer)
    first_session_seq: Mapped[int] = mapped_column(Integer)  # the sessions bought, inclusive
    last_session_seq: Mapped[int] = mapped_column(Integer)
    amount_due: Mapped[Decimal] = mapped_column(Money())  # what the parent must pay
    list_amount: Mapped[Decimal] = mapped_column(Money())  # lessons × filed price
    amount_paid: Mapped[Decimal] = mapped_column(Money())  # posted to the parent's prepaid
    lessons_consumed: Mapped[int] = mapped_column(Integer)  # delivered and not reversed
    amount_consumed: Mapped[Decimal] = mapped_column(Money())  # their value
    lessons_refunded: Mapped[int] = mapped_column(Integer)  # refunded or being refunded
    amount_refunded: Mapped[Decimal] = mapped_column(Money())
    payment_reference: Mapped[str] = mapped_column(String(40), unique=True)
    access_code_hash: Mapped[str] = mapped_column(String(64))
    # awaiting_payment|active|completed|refunded|cancelled (enrollments.UNPAID: never paid)
    status: Mapped[str] = mapped_column(String(20))
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Unpaid by then, the order lapses (the pack's `unpaid_order_expiry`): it holds no room
    # under a per-consumer cap, takes no payment, and the job cancels it. None: it never
    # lapses (a successor's transfer pays it; or made before orders lapsed).
    pay_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # pay_by counted in working days over a year whose holiday arrangement was not yet
    # published (service.fees.working_days): shown as provisional, never as settled.
    pay_by_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A successor's enrollment of a transferred claim, under a pack that caps what one
    # consumer holds: it carries the failed institution's reference, so the successor names
    # the member it is (its own reference) before it reports lessons on it
    # (service.flows.successors.name_member).
    member_to_name: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Deposit(Base):
    """Cash a bank reports received into a supervised account; idempotent on the bank's id."""

    __tablename__ = "deposits"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign keys: a batch writes a thousand rows, and every one is written in the
    # transaction that read its bank and institution and locked its enrollment; those rows
    # are never deleted (a trigger refuses). Migration 9a4c2e7d5b13 says why and what it saves.
    bank_id: Mapped[str] = mapped_column(String(40))
    bank_txn_id: Mapped[str] = mapped_column(String(80))
    request_hash: Mapped[str] = mapped_column(String(64))
    account_no: Mapped[str] = mapped_column(String(64))
    # Indexed by ix_deposits_status below, whose leading column it is.
    institution_id: Mapped[str] = mapped_column(String(40))
    payment_reference: Mapped[str] = mapped_column(String(80))
    amount: Mapped[Decimal] = mapped_column(Money())
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # posted|suspense|matched|returning|returned
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    target: Mapped[str] = mapped_column(String(16))  # escrow | reserve
    enrollment_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )  # left suspense
    __table_args__ = (UniqueConstraint("bank_id", "bank_txn_id", name="uq_deposits_bank_txn"),)


Index("ix_deposits_status", Deposit.institution_id, Deposit.status, Deposit.received_at)
# The risk sweep reads every table through a time window; these keep it off the history.
Index("ix_deposits_received", Deposit.received_at)
# A statement's day: the deposits paid into its account that day.
Index("ix_deposits_account_paid", Deposit.account_no, Deposit.paid_at)
# An enrollment's payments, in order (a refund names them to the bank): without it every
# refund read all deposits ever received.
Index("ix_deposits_enrollment", Deposit.enrollment_id, Deposit.received_at)


class Consumption(Base):
    """Lessons the institution reports delivered; released after the confirmation window."""

    __tablename__ = "consumptions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    lessons: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())  # moved from prepaid to earned
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirm_until: Mapped[datetime] = mapped_column(UTCDateTime())  # end of the dispute window
    # Counted in working days over a year whose holiday arrangement was not yet published
    # (service.fees.working_days): shown as provisional, never as settled.
    confirm_until_provisional: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    session_ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # pending|disputed|upheld|reversed
    dispute_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the parent disputed it (a dispute rate is a risk signal, judged by this instant).
    disputed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # More lessons consumed, with this one, than the filed sessions bought had started by its
    # `occurred_at` (claimed early, or faster than the timetable): accepted, and a signal.
    off_timetable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    release_instruction_id: Mapped[str | None] = mapped_column(
        String(40), nullable=True, index=True
    )


Index("ix_consumptions_release", Consumption.institution_id, Consumption.confirm_until)
# Lessons not yet released, for the release run: a partial index, so the run reads what is
# due and never the lessons released before (the history).
Index(
    "ix_consumptions_unreleased",
    Consumption.confirm_until,
    postgresql_where=text("release_instruction_id IS NULL"),
    sqlite_where=text("release_instruction_id IS NULL"),
)
Index("ix_consumptions_reported", Consumption.reported_at)
# Lessons reported ahead of the timetable, for the risk sweep (a partial index: few are). The
# predicate is each database's rendering of `off_timetable IS true`, which the sweep asks.
Index(
    "ix_consumptions_ahead",
    Consumption.reported_at,
    postgresql_where=text("off_timetable IS true"),
    sqlite_where=text("off_timetable IS 1"),
)
# Lessons parents disputed, by when: the risk sweep's dispute rate (a partial index: few are).
Index(
    "ix_consumptions_disputed_at",
    Consumption.disputed_at,
    postgresql_where=text("disputed_at IS NOT NULL"),
    sqlite_where=text("disputed_at IS NOT NULL"),
)
# The few lessons under dispute, for the queues (a partial index: the rest are never read so).
Index(
    "ix_consumptions_disputed",
    Consumption.institution_id,
    postgresql_where=text("status = 'disputed'"),
    sqlite_where=text("status = 'disputed'"),
)


class Refund(Base):
    """A parent's request for unconsumed fees, and its way to the bank."""

    __tablename__ = "refunds"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    lessons: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())  # owed back to the parent
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    respond_by: Mapped[datetime] = mapped_column(UTCDateTime())
    respond_by_provisional: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated: Mapped[bool] = mapped_column(default=False)
    instruction_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Consented to (answered, accepted for the institution, approved): the bank is to pay it
    # by then (the pack's `refund_payment_deadline`, in working days).
    pay_by: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pay_by_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


Index("ix_refunds_status", Refund.status, Refund.respond_by)
Index("ix_refunds_pay_by", Refund.status, Refund.pay_by)
Index("ix_refunds_respond_by", Refund.respond_by)
# The risk sweep's refund requests of a window (answered on time or not).
Index("ix_refunds_requested", Refund.requested_at)


class RefundEvent(Base):
    __tablename__ = "refund_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    refund_id: Mapped[str] = mapped_column(ForeignKey("refunds.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # order within the refund's timeline
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_refund_events_status_at", RefundEvent.status, RefundEvent.at)


class Instruction(Base):
    """An order to a bank to move money out of a supervised account. Its amount is held in
    the ledger from creation until the bank reports the result."""

    __tablename__ = "instructions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bank_id: Mapped[str] = mapped_column(ForeignKey("banks.id"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # release | refund
    purpose: Mapped[str] = mapped_column(String(20))  # release|refund|suspense_return
    subject_id: Mapped[str | None] = mapped_column(String(40), nullable=True)  # refund/deposit id
    account_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money())
    payee: Mapped[Any] = mapped_column(JSON)
    hold_ids: Mapped[Any] = mapped_column(JSON)  # the ledger holds this instruction settles
    status: Mapped[str] = mapped_column(String(12))  # pending | executed | rejected
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    result_bank_txn_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)


Index("ix_instructions_pending", Instruction.bank_id, Instruction.status, Instruction.created_at)
# A statement's lines and day: payments by the bank's txn id, and those executed from the account.
Index("ix_instructions_result_txn", Instruction.bank_id, Instruction.result_bank_txn_id)
Index("ix_instructions_account_executed", Instruction.account_no, Instruction.executed_at)


class Statement(Base):
    """A bank's daily statement of one supervised account, and what matching it found."""

    __tablename__ = "statements"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    bank_id: Mapped[str] = mapped_column(ForeignKey("banks.id"))
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(64))
    statement_date: Mapped[Any] = mapped_column(String(10))  # YYYY-MM-DD, Beijing
    opening_balance: Mapped[Decimal] = mapped_column(Money())
    closing_balance: Mapped[Decimal] = mapped_column(Money())
    ledger_balance: Mapped[Decimal] = mapped_column(Money())  # our escrow at the day's end
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))  # matched | breaks
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a regulator


Index("ix_statements_account", Statement.account_no, Statement.statement_date)


class LatestStatement(Base):
    """The latest statement of each supervised account (by bank day, then arrival), kept by
    reconciliation beside the history: what the bank last said it holds, one row an account,
    so that lists and overviews of thousands of institutions need not search a year of
    statements each."""

    __tablename__ = "latest_statements"
    account_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"))
    statement_date: Mapped[Any] = mapped_column(String(10))
    closing_balance: Mapped[Decimal] = mapped_column(Money())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatementBreak(Base):
    __tablename__ = "statement_breaks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), index=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    bank_txn_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    expected: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    actual: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_statement_breaks_at", StatementBreak.at)
Index("ix_statements_received", Statement.institution_id, Statement.received_at)


class Complaint(Base):
    __tablename__ = "complaints"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    enrollment_id: Mapped[str | None] = mapped_column(ForeignKey("enrollments.id"), nullable=True)
    category: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Open until a regulator of its region marks it handled: an enrollment has one open
    # complaint of a category at a time (service.flows.parents.complain).
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    handled_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


Index("ix_complaints_created", Complaint.created_at)
Index("ix_complaints_enrollment", Complaint.enrollment_id, Complaint.created_at)
Index("ix_enrollments_paid", Enrollment.paid_at)
# What one consumer holds at an institution (the pack's per-consumer cap, read on every
# enrollment under such a pack): their enrollments found, not the institution's all scanned.
Index("ix_enrollments_consumer", Enrollment.institution_id, Enrollment.student_ref)
# The orders that can lapse (only under a per-consumer cap): the unpaid_order_expiry job finds
# those due without scanning every enrollment, every 15 minutes and every replayed day.
Index(
    "ix_enrollments_pay_by",
    Enrollment.pay_by,
    postgresql_where=text("pay_by IS NOT NULL"),
    sqlite_where=text("pay_by IS NOT NULL"),
)


class ParentSession(Base):
    __tablename__ = "parent_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WindDown(Base):
    """An institution that closed, absconded or lost its licence, being wound up: its parents'
    claims fixed at `effective_at` and paid in rounds (service/flows/winddowns.py). One an
    institution: a second opening is `wind_down_exists`."""

    __tablename__ = "wind_downs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(16))  # closed | absconded | revoked
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)
    # What the bank puts on a recovery paid into the escrow account for this wind-down.
    payment_reference: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(8))  # open | closed
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_by: Mapped[str] = mapped_column(String(80))
    # Money the bank reported leaving escrow with no instruction, booked as a receivable
    # from the institution (the owner's debt to the wind-down).
    shortfall: Mapped[Decimal] = mapped_column(Money())


class Claim(Base):
    """A parent's claim in a wind-down: the enrollment's unconsumed prepayment at the
    effective instant, and how much of it was allocated, paid, is on its way, or waits for an
    account to pay it to. All amounts yuan, owed to the parent."""

    __tablename__ = "wind_down_claims"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wind_down_id: Mapped[str] = mapped_column(ForeignKey("wind_downs.id"), index=True)
    enrollment_id: Mapped[str] = mapped_column(ForeignKey("enrollments.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Money())  # the claim
    allocated: Mapped[Decimal] = mapped_column(Money())  # given it by rounds so far
    paid: Mapped[Decimal] = mapped_column(Money())  # executed by the bank
    in_flight: Mapped[Decimal] = mapped_column(Money())  # instructed, not yet answered
    # Allocated but not paid: the bank rejected the payment (the claim is `unreachable`
    # until the parent names an account) or there was no account to pay it to.
    held: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[str] = mapped_column(String(12))  # open|paid|unreachable|transferred
    payee_account_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    successor_institution_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Moved to the successor's escrow when the parent accepted a successor school
    # (service/flows/successors.py): executed by the bank; on its way, it is in `in_flight`.
    transferred: Mapped[Decimal] = mapped_column(
        Money(), default=Decimal("0.00"), server_default=text("0")
    )


class WindDownRound(Base):
    """One distribution: `amount` of new money allocated to the claims pro rata (or in full),
    and `reissued` of earlier allocations paid now to accounts parents named."""

    __tablename__ = "wind_down_rounds"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wind_down_id: Mapped[str] = mapped_column(ForeignKey("wind_downs.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())
    reissued: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(80))
    __table_args__ = (UniqueConstraint("wind_down_id", "seq", name="uq_wind_down_rounds_seq"),)


class WindDownPayment(Base):
    """A round's part for one claim from one source (escrow or reserve): an instruction to
    the bank, or `held` when there is no account to pay it to."""

    __tablename__ = "wind_down_payments"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    round_id: Mapped[str] = mapped_column(ForeignKey("wind_down_rounds.id"), index=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("wind_down_claims.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    source: Mapped[str] = mapped_column(String(8))  # escrow | reserve
    instruction_id: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(12))  # instructed|paid|rejected|held
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    __table_args__ = (
        UniqueConstraint("round_id", "claim_id", "source", name="uq_wind_down_payments_part"),
    )


class SuccessorOffer(Base):
    """A successor school offered to one claim of a wind-down (service/flows/successors.py):
    `offered` until the parent decides or `expires_at` passes; `accepted` while the transfer
    is with the bank, then `transferred` (or `failed`: the bank refused it, the claim is open
    again); `declined`; `expired` is read from `expires_at`, never written late."""

    __tablename__ = "successor_offers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    wind_down_id: Mapped[str] = mapped_column(ForeignKey("wind_downs.id"), index=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("wind_down_claims.id"), index=True)
    successor_institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    course_id: Mapped[str] = mapped_column(String(40))  # the successor's course taking them
    lessons: Mapped[int] = mapped_column(Integer)  # the lessons the successor takes
    status: Mapped[str] = mapped_column(String(12))  # offered|accepted|transferred|failed|declined
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    offered_by: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    amount: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)  # the transfer
    share: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)  # of it, new money
    instruction_id: Mapped[str | None] = mapped_column(String(40), nullable=True, unique=True)
    successor_enrollment_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
