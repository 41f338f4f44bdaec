"""Request (`…In`) and response (`…Read`) bodies of the parent's API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from service.api.schemas import Read
from service.flows import enrollments
from service.flows.models import Refund
from service.flows.parents import Overview
from service.flows.successors import ParentOffer
from service.flows.winddowns import ParentView, outstanding
from service.kit.money import InstantOut, MoneyOut
from service.kit.wire import Strict, WholeNumber


class SessionIn(Strict):
    enrollment_id: str = Field(min_length=1, max_length=40)
    access_code: str = Field(min_length=1, max_length=40)


class RefundIn(Strict):
    """`lessons` to refund: all that remain if left out."""

    lessons: WholeNumber | None = Field(default=None, ge=1, le=1000)
    reason: str = Field(min_length=1, max_length=2000)


class DisputeIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class ComplaintIn(Strict):
    category: Literal["refund", "teaching_stopped", "asked_to_pay_off_platform", "quality", "other"]
    text: str = Field(min_length=1, max_length=5000)


class SessionRead(Read):
    token: str
    expires_at: InstantOut


class NamedRead(Read):
    name: str
    status: str | None = None


class TitledRead(Read):
    title: str


class ParentEnrollmentRead(Read):
    id: str
    institution: NamedRead
    course: TitledRead
    lessons: int
    lessons_consumed: int
    lessons_refunded: int
    amount_due: MoneyOut
    amount_paid: MoneyOut
    amount_consumed: MoneyOut
    refundable_amount: MoneyOut
    status: str
    payment_reference: str
    pay_by: InstantOut | None = Field(
        default=None,
        description="unpaid by then, the order lapses: a payment after it is not taken",
    )
    pay_by_provisional: bool = Field(
        default=False,
        description="pay_by counted over a year whose holiday arrangement is not yet published",
    )

    @classmethod
    def of(cls, o: Overview) -> ParentEnrollmentRead:
        e = o.enrollment
        unpaid = e.status in enrollments.UNPAID
        return cls(
            id=e.id,
            institution=NamedRead(name=o.institution.name, status=o.institution.status),
            course=TitledRead(title=o.course.title),
            lessons=e.lessons,
            lessons_consumed=e.lessons_consumed,
            lessons_refunded=e.lessons_refunded,
            amount_due=e.amount_due,
            amount_paid=e.amount_paid,
            amount_consumed=e.amount_consumed,
            refundable_amount=e.amount_paid if unpaid else enrollments.balance(e),
            status=e.status,
            payment_reference=e.payment_reference,
            pay_by=e.pay_by,
            pay_by_provisional=e.pay_by_provisional,
        )


class RefundRequestedRead(Read):
    id: str
    amount: MoneyOut
    lessons: int
    status: str
    respond_by: InstantOut
    respond_by_provisional: bool

    @classmethod
    def of(cls, r: Refund) -> RefundRequestedRead:
        return cls.model_validate(r, from_attributes=True)


class ComplaintRead(Read):
    id: str


class ProofRootRead(Read):
    hash: str
    sum: int  # fen


class ProofLogRead(Read):
    index: int
    entry: str
    inclusion: list[str]
    checkpoint: str


class ProofRead(Read):
    """A parent's proof, format v1 (docs/proofs.md §3). Each leaf is `{part, salt, amount (fen,
    an integer), index, path: [{hash, sum}]}`."""

    version: int
    snapshot_id: str
    institution_id: str
    date: str
    leaf_count: int
    root: ProofRootRead
    enrollment_id: str
    amount: MoneyOut
    leaves: list[dict[str, Any]]
    log: ProofLogRead


class PayeeIn(Strict):
    """The account a payment the bank could not make by the original route goes to."""

    account_no: str = Field(min_length=4, max_length=64, pattern=r"^[0-9A-Za-z-]{4,64}$")


class WindDownPartRead(Read):
    round: int
    amount: MoneyOut
    status: Literal["instructed", "paid", "rejected", "held"]
    paid_at: InstantOut | None


class OfferSuccessorRead(Read):
    name: str


class ParentOfferRead(Read):
    successor: OfferSuccessorRead
    lessons: int = Field(description="the lessons the successor takes")
    expires_at: InstantOut
    status: Literal["offered", "expired", "accepted", "transferred", "failed", "declined"]
    amount: MoneyOut | None = Field(description="the money moved to the successor, once accepted")
    successor_enrollment_id: str | None = Field(
        description="the enrollment continuing at the successor (sign in to it with the same "
        "access code)"
    )

    @classmethod
    def of(cls, p: ParentOffer) -> ParentOfferRead:
        o = p.offer
        return cls(
            successor=OfferSuccessorRead(name=p.successor.name), lessons=o.lessons,
            expires_at=o.expires_at, status=p.status,  # type: ignore[arg-type]
            amount=o.amount, successor_enrollment_id=o.successor_enrollment_id,
        )  # fmt: skip


class OfferDecisionIn(Strict):
    decision: Literal["accept", "decline"]


class ParentWindDownRead(Read):
    wind_down_id: str
    reason: str
    effective_at: InstantOut
    claim: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    status: Literal["open", "paid", "unreachable", "transferred"]
    payee_account_no: str | None
    transferred: MoneyOut = Field(description="moved to the successor's escrow by the bank")
    rounds: list[WindDownPartRead]
    offer: ParentOfferRead | None = Field(
        default=None, description="the latest successor school offered, if any"
    )

    @classmethod
    def of(cls, v: ParentView, offer: ParentOffer | None = None) -> ParentWindDownRead:
        c = v.claim
        return cls(
            wind_down_id=v.wind_down.id, reason=v.wind_down.reason,
            effective_at=v.wind_down.effective_at, claim=c.amount, paid=c.paid,
            outstanding=outstanding(c), status=c.status,  # type: ignore[arg-type]
            payee_account_no=c.payee_account_no, transferred=c.transferred,
            offer=None if offer is None else ParentOfferRead.of(offer),
            rounds=[WindDownPartRead(round=p.round_seq, amount=p.amount,
                                     status=p.status, paid_at=p.paid_at)  # type: ignore[arg-type]
                    for p in v.parts],
        )  # fmt: skip
