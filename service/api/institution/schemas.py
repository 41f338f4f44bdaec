"""Request (`…In`) and response (`…Read`) bodies of the institution's API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from service.api.schemas import Read
from service.config import Settings
from service.flows import enrollments, parents
from service.flows.consumptions import Reported
from service.flows.enrollments import Enrolled
from service.kit.money import Day, DayOut, Instant, InstantOut, MoneyOut, PositiveMoney
from service.kit.wire import RegionCode, Strict, WholeNumber
from service.registry.models import Institution

GradeBand = Literal["preschool", "primary", "junior", "senior"]
Mode = Literal["offline", "online"]
CardKind = Literal["sessions", "membership", "stored_value"]
Sector = Literal["education_subject", "education_non_subject", "fitness"]


class SessionIn(Strict):
    starts_at: Instant
    ends_at: Instant


class CourseIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=60)
    category: Literal["subject", "non_subject"]
    grade_band: GradeBand
    mode: Mode
    class_size: WholeNumber = Field(ge=1, le=10_000)
    lesson_minutes: WholeNumber = Field(ge=1, le=600)
    lessons_total: WholeNumber = Field(ge=1, le=1000)
    price_per_lesson: PositiveMoney
    list_price_per_lesson: PositiveMoney | None = None
    sessions: list[SessionIn] = Field(min_length=1, max_length=1000)
    card_kind: CardKind | None = Field(
        default=None,
        description="a gym's kind of prepaid card, held to the pack's card caps of its kind: "
        "sessions (the default), membership (by time: its term runs from the first session "
        "to the last) or stored_value",
    )

    @model_validator(mode="after")
    def _sessions_match(self) -> CourseIn:
        if len(self.sessions) != self.lessons_total:
            raise ValueError(
                f"sessions lists {len(self.sessions)} lessons but lessons_total is "
                f"{self.lessons_total}: give one entry per lesson"
            )
        for i, s in enumerate(self.sessions, start=1):
            minutes = (s.ends_at - s.starts_at).total_seconds() / 60
            if minutes != self.lesson_minutes:
                raise ValueError(
                    f"session {i} lasts {minutes:g} minutes, not lesson_minutes "
                    f"({self.lesson_minutes})"
                )
        starts = sorted(s.starts_at for s in self.sessions)
        if len(set(starts)) != len(starts):
            raise ValueError("two sessions start at the same time")
        return self


class CourseCheckIn(CourseIn):
    region_code: RegionCode | None = Field(
        default=None,
        description="the region to judge in (default: the named institution's, else the "
        "caller's own); beside an institution (named, or the caller) it must be that "
        "institution's region, else 422 region_conflict",
    )
    institution_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="a regulator's: judge as this institution of their region would be (its "
        "region and its sector); an institution may name only itself",
    )
    sector: Sector | None = Field(
        default=None,
        description="the rule pack's sector to judge under (default: the named institution's "
        "own, else the caller's own if an institution, else the school sector of the course's "
        "category)",
    )


class EnrollmentIn(Strict):
    course_id: str = Field(min_length=1, max_length=40)
    student_ref: str = Field(min_length=1, max_length=100)
    lessons: WholeNumber = Field(ge=1, le=1000)
    amount: PositiveMoney


class MemberIn(Strict):
    """The institution's own reference for the consumer a transferred enrollment is."""

    student_ref: str = Field(min_length=1, max_length=100)


class ConsumptionIn(Strict):
    lessons: WholeNumber = Field(ge=1, le=1000)
    occurred_at: Instant
    session_ref: str | None = Field(default=None, max_length=80)


class ClosureIn(Strict):
    effective: Day = Field(description="the Beijing day the institution closes (today or later)")
    reason: str = Field(min_length=1, max_length=2000)


class ClosureRead(Read):
    """The institution's planned closure as recorded."""

    closing_on: DayOut
    announced_at: InstantOut

    @classmethod
    def of(cls, inst: Institution) -> ClosureRead:
        assert inst.closing_on is not None and inst.closure_announced_at is not None
        return cls(closing_on=inst.closing_on, announced_at=inst.closure_announced_at)


class RespondIn(Strict):
    decision: Literal["accept", "dispute"]
    reason: str = Field(min_length=1, max_length=2000)


class CourseCheckRead(Read):
    """What a filing would get: approved or rejected, each violation with its rule code."""

    status: Literal["approved", "rejected"]
    violations: list[dict[str, Any]]
    price_check: dict[str, Any] | None


class EnrolledRead(Read):
    """The enrollment made. `access_code` is shown this once: hand it to the parent."""

    id: str
    payment_reference: str
    access_code: str
    amount_due: MoneyOut
    lessons: int
    status: str
    pay_by: InstantOut | None = Field(
        default=None, description="unpaid by then, the order lapses: it takes no payment"
    )
    pay_by_provisional: bool = Field(
        default=False,
        description="pay_by counted over a year whose holiday arrangement is not yet published",
    )
    escrow_account_no: str
    parent_link: str = Field(
        description="the parent's sign-in page for this enrollment, at the service's public "
        "address (PUBLIC_BASE_URL); the code is still typed"
    )
    parent_qr: str = Field(description="an SVG QR code of parent_link, to print for the parent")

    @classmethod
    def of(cls, made: Enrolled, settings: Settings) -> EnrolledRead:
        e = made.enrollment
        link = parents.sign_in_link(settings, e.id)
        return cls(
            id=e.id,
            payment_reference=e.payment_reference,
            access_code=made.access_code,
            amount_due=e.amount_due,
            lessons=e.lessons,
            status=e.status,
            pay_by=e.pay_by,
            pay_by_provisional=e.pay_by_provisional,
            escrow_account_no=made.escrow_account_no,
            parent_link=link,
            parent_qr=f"{link}/qr.svg",
        )


class AccessCodeRead(Read):
    """A family's new access code, shown this once: hand it to the parent."""

    enrollment_id: str
    access_code: str
    parent_link: str
    parent_qr: str

    @classmethod
    def of(cls, enrollment_id: str, code: str, settings: Settings) -> AccessCodeRead:
        link = parents.sign_in_link(settings, enrollment_id)
        return cls(enrollment_id=enrollment_id, access_code=code, parent_link=link,
                   parent_qr=f"{link}/qr.svg")  # fmt: skip


class ReportedRead(Read):
    id: str
    amount: MoneyOut
    lessons: int
    lessons_remaining: int
    balance: MoneyOut
    confirm_until: InstantOut
    confirm_until_provisional: bool
    off_timetable: bool

    @classmethod
    def of(cls, r: Reported) -> ReportedRead:
        c, e = r.consumption, r.enrollment
        return cls(
            id=c.id,
            amount=c.amount,
            lessons=c.lessons,
            lessons_remaining=enrollments.remaining_lessons(e),
            balance=enrollments.balance(e),
            confirm_until=c.confirm_until,
            confirm_until_provisional=c.confirm_until_provisional,
            off_timetable=c.off_timetable,
        )
