"""What the parent's page shows, read once per request: the enrollment in money and lessons
(a disputed lesson is disputed, not used), each lesson with its window, each refund with its
timeline and what happens next, and the institution's public record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from service.flows import consumptions, enrollments, parents, refunds, successors, winddowns
from service.flows.models import Consumption, Enrollment, Refund, RefundEvent
from service.kit.clock import local_date
from service.registry.models import Bank, Institution
from service.risk import disclosure

# The public lists (docs/domain.md): supervised institutions are on the white list.
LIST = {"active": "white", "frozen": "white", "blacklisted": "black", "closed": "closed",
        "winding_down": "closed"}  # fmt: skip


@dataclass(frozen=True)
class Lesson:
    row: Consumption
    status: str  # pending | confirmed | disputed | reversed

    @property
    def disputable(self) -> bool:
        return self.status == "pending"


@dataclass(frozen=True)
class RefundShown:
    row: Refund
    events: list[RefundEvent]
    next_step: str | None  # what happens now, in words the page translates
    payment_overdue: bool = False  # instructed, and the bank has not paid by `pay_by`


@dataclass(frozen=True)
class Figures:
    paid: Decimal
    used: Decimal
    disputed: Decimal
    refunding: Decimal  # set aside for a refund still in progress
    refunded: Decimal  # paid back
    refundable: Decimal
    lessons_left: int


@dataclass(frozen=True)
class ParentView:
    enrollment: Enrollment
    institution: Institution
    course_title: str
    bank: Bank
    list_status: str
    figures: Figures
    lessons: list[Lesson]
    refunds: list[RefundShown]
    standing: disclosure.Standing
    complaints: list[disclosure.Filed]
    wind_down: winddowns.ParentView | None = None  # the claim, where the school is wound up
    offer: successors.ParentOffer | None = None  # the successor school offered, if any

    @property
    def refund_open(self) -> bool:
        return any(r.row.status in refunds.ACTIVE for r in self.refunds)


def read(session: Session, e: Enrollment, now: datetime) -> ParentView:
    o = parents.overview(session, e)
    lessons = [
        Lesson(c, consumptions.parent_status(c, now))
        for c in consumptions.of_enrollment(session, e.id)
    ]
    bank = session.get(Bank, o.institution.bank_id)
    assert bank is not None
    shown = [
        RefundShown(
            r, refunds.timeline(session, r), next_step(r), refunds.is_payment_overdue(r, now)
        )
        for r in refunds.of_enrollment(session, e.id)
    ]
    claim = winddowns.claim_of_enrollment(session, e.id)
    return ParentView(
        enrollment=e,
        institution=o.institution,
        course_title=o.course.title,
        bank=bank,
        list_status=LIST.get(o.institution.status, "white"),
        figures=figures(e, lessons, [r.row for r in shown]),
        lessons=lessons,
        refunds=shown,
        standing=disclosure.standing(session, o.institution, on=local_date(now)),
        complaints=disclosure.filed(session, e.id, o.institution.id),
        wind_down=winddowns.of_parent(session, e.id) if claim is not None else None,
        offer=successors.of_parent(session, claim, now) if claim is not None else None,
    )


def _sum(amounts: list[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def figures(e: Enrollment, lessons: list[Lesson], made: list[Refund]) -> Figures:
    return Figures(
        paid=e.amount_paid,
        used=_sum([x.row.amount for x in lessons if x.status in ("pending", "confirmed")]),
        disputed=_sum([x.row.amount for x in lessons if x.status == "disputed"]),
        refunding=_sum([r.amount for r in made if r.status in refunds.ACTIVE]),
        refunded=_sum([r.amount for r in made if r.status == "paid"]),
        refundable=Decimal("0") if e.status in enrollments.UNPAID else enrollments.balance(e),
        lessons_left=enrollments.remaining_lessons(e) if e.status not in enrollments.UNPAID else 0,
    )


def next_step(r: Refund) -> str | None:
    """What the parent can expect now: the page says it in their language."""
    if r.status == "requested":
        return "respond"
    if r.status == "disputed":
        return "regulator"
    if r.status in ("accepted", "instructed"):
        return "bank"
    if r.status == "failed":
        return "failed"
    if r.status == "denied":
        return "denied"
    return None


def quote(e: Enrollment, lessons: int) -> Decimal:
    """The exact amount `lessons` would refund, shown before the parent confirms."""
    return enrollments.refund_amount(e, lessons)
