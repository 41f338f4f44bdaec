"""Enrollments: the purchase of a course's next sessions, within the caps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import delete, func, or_, select, text, true, update
from sqlalchemy.orm import Session

import ledger
from ledger import cumulative_share
from service.config import Settings
from service.errors import DomainError
from service.fees.caps import Purchase, add_months, check_purchase
from service.fees.models import Course, CourseSession
from service.fees.working_days import InstantDeadline, span_end
from service.flows.chart import open_prepaid_account
from service.flows.models import Consumption, Enrollment, ParentSession, Refund
from service.kit.clock import local_date
from service.kit.ids import (
    keyed_hash,
    new_access_code,
    new_id,
    new_payment_reference,
    normal_access_code,
)
from service.kit.money import format_money
from service.policy import credit_lists, packs
from service.policy.rules import RulePack
from service.registry.institutions import audit
from service.registry.models import Institution

ZERO = Decimal("0.00")


@dataclass(frozen=True, kw_only=True)
class Enrolled:
    enrollment: Enrollment
    access_code: str  # shown once, to hand to the parent; stored only as a keyed hash
    escrow_account_no: str  # where the parent pays


class Planned(NamedTuple):
    """A course session as an order reads it: made into objects, a term's sixty cost more
    than the query."""

    seq: int
    starts_at: datetime


@dataclass(frozen=True, kw_only=True)
class Order:
    """A student's purchase of a course's next sessions, made at `at`."""

    institution: Institution
    course_id: str
    student_ref: str
    lessons: int
    amount: Decimal
    at: datetime


def create(
    session: Session,
    *,
    institution: Institution,
    course_id: str,
    student_ref: str,
    lessons: int,
    amount: Decimal,
    now: datetime,
    settings: Settings,
) -> Enrolled:
    """Enrol a student in the course's next `lessons` sessions, within the caps."""
    order = Order(
        institution=institution,
        course_id=course_id,
        student_ref=student_ref,
        lessons=lessons,
        amount=amount,
        at=now,
    )
    made = create_many(session, [order], settings=settings)[0]
    if isinstance(made, DomainError):
        raise made
    return made


def create_many(
    session: Session, orders: Sequence[Order], *, settings: Settings
) -> list[Enrolled | DomainError]:
    """Enrollments made apart and written together (a replayed history's morning), each
    judged as if made alone at its own instant, in the order given: a refused one is an
    error in its slot and changes nothing. One read of the courses, one write of the
    enrollments; each still reads its own next sessions."""
    courses = _courses(session, {o.course_id for o in orders})
    upcoming = _upcoming(session, [o for o in orders if o.course_id in courses])
    held = _Held(session)
    out: list[Enrolled | DomainError] = []
    for order in orders:
        try:
            course = _enrollable(order.institution, courses.get(order.course_id), order.course_id)
            sessions = _next_sessions(upcoming[course.id], order.lessons, order.at)
            sector = packs.sector_of(
                "fitness" if order.institution.category == "fitness" else course.category
            )
            pack = packs.resolve(session, order.institution.region_code, sector,
                                 on=local_date(order.at))  # fmt: skip
            _through_the_gate(order.institution, pack, order.at)
            _off_the_lists(session, order.institution, pack, order.at)
            enrolled = _made(order, course, sessions, settings, pack)
            held.admit(order, pack)
            out.append(enrolled)
        except DomainError as exc:
            out.append(exc)
    made = [m.enrollment for m in out if isinstance(m, Enrolled)]
    session.add_all(made)
    session.flush()
    # The parent's prepaid account exists from the start, so payments never have to open it.
    conn = session.connection()
    for e in made:
        open_prepaid_account(conn, e.institution_id, e.id, at=e.enrolled_at)
    return out


def _courses(session: Session, ids: set[str]) -> dict[str, Course]:
    return {c.id: c for c in session.scalars(select(Course).where(Course.id.in_(ids)))}


def _upcoming(session: Session, orders: Sequence[Order]) -> dict[str, list[Planned]]:
    """The sessions of the orders' courses after the earliest order, in order: one read for
    a morning's orders (a course holds at most a term's sessions)."""
    out: dict[str, list[Planned]] = {o.course_id: [] for o in orders}
    if out:
        for course_id, seq, starts_at in session.execute(
            select(CourseSession.course_id, CourseSession.seq, CourseSession.starts_at)
            .where(ledger.one_of(session.connection(), CourseSession.course_id, out),
                   CourseSession.starts_at > min(o.at for o in orders))
            .order_by(CourseSession.course_id, CourseSession.seq)
        ):  # fmt: skip
            out[course_id].append(Planned(seq, starts_at))
    return out


def _made(
    order: Order, course: Course, sessions: list[Planned], settings: Settings, pack: RulePack
) -> Enrolled:
    """The enrollment an order makes, not yet written; or the first rule it breaks."""
    institution, now = order.institution, order.at
    check_purchase(
        Purchase(
            category=course.category,
            lessons=order.lessons,
            amount=order.amount,
            price_per_lesson=course.price_per_lesson,
            first_lesson=sessions[0].starts_at,
            last_lesson=sessions[-1].starts_at,
            enrolled_at=now,
        ),
        caps=pack.values.prepay_caps,
        earliest=pack.values.earliest_collection,
    )
    code = new_access_code()
    lapse = _pay_by(now, pack)
    enrollment = Enrollment(
        id=new_id("enr"),
        institution_id=institution.id,
        course_id=course.id,
        student_ref=order.student_ref,
        lessons=order.lessons,
        first_session_seq=sessions[0].seq,
        last_session_seq=sessions[-1].seq,
        amount_due=order.amount,
        list_amount=course.price_per_lesson * order.lessons,
        amount_paid=ZERO,
        lessons_consumed=0,
        amount_consumed=ZERO,
        lessons_refunded=0,
        amount_refunded=ZERO,
        payment_reference=new_payment_reference(),
        access_code_hash=keyed_hash(settings.secret_key, normal_access_code(code)),
        status="awaiting_payment",
        enrolled_at=now,
        pay_by=None if lapse is None else lapse.at,
        pay_by_provisional=lapse is not None and lapse.provisional,
    )
    return Enrolled(
        enrollment=enrollment, access_code=code, escrow_account_no=institution.escrow_account_no
    )


def _pay_by(now: datetime, pack: RulePack) -> InstantDeadline | None:
    """When an order made at `now` lapses unpaid: only under a pack that caps what one
    consumer holds, where an unpaid order holds room that must not stay taken forever (the
    pack's `unpaid_order_expiry`); elsewhere an order waits for its payment, as it always has."""
    if pack.values.prepay_caps.per_consumer is None:
        return None
    return span_end(now, pack.values.unpaid_order_expiry)


def _through_the_gate(institution: Institution, pack: RulePack, at: datetime) -> None:
    """The pack's entry gate (Siping's 2025 draft): no prepaid sales in the first months.
    The service records no licence date: the day the institution was registered with the
    service stands for it (docs/rules.md). The gate's credit lists: `_off_the_lists`."""
    months = pack.values.entry_gate.months_after_licence
    if months == 0:
        return
    opens = add_months(local_date(institution.created_at), months)
    if local_date(at) < opens:
        raise DomainError(
            "entry_gate_closed",
            f"no prepaid sales in the first {months} months after the licence: from "
            f"{opens.isoformat()}",
            extra={"opens_on": opens.isoformat()},
        )


def _off_the_lists(
    session: Session, institution: Institution, pack: RulePack, at: datetime
) -> None:
    """The entry gate's credit lists (Siping's 2025 draft): no prepaid sales while the
    institution is on a list the regulator keeps. Read only where the pack names a list."""
    lists = pack.values.entry_gate.credit_lists
    if not lists:
        return
    on = credit_lists.listed_on(session, institution.id, lists, at)
    if on is not None:
        raise DomainError(
            "credit_listed",
            f"no prepaid sales while on the regulator's {on} list",
            extra={"list": on},
        )


class _Held:
    """What each consumer holds prepaid at an institution, for the pack's `per_consumer` cap
    (Shanghai's fitness rules: at most 20,000 yuan). Read only where a pack sets the cap, once
    per consumer and institution in a batch, and kept up to date with the batch's own orders.

    The reading (docs/rules.md): per consumer *per institution* — a prepaid card is issued by
    one operator, and the service knows a consumer only by the institution's own reference
    (`student_ref`), never across institutions. What a consumer holds is what they prepaid and
    have not yet consumed or had refunded (owed or paid): lessons taken and refunds free room.
    A deposit pays exactly what its enrollment owes (`deposit_does_not_pay` otherwise), so the
    cap held at enrollment holds for the money too and the deposit path reads no pack."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.held: dict[tuple[str, str], Decimal] = {}

    def admit(self, order: Order, pack: RulePack) -> None:
        cap = pack.values.prepay_caps.per_consumer
        if cap is None:
            return
        key = (order.institution.id, order.student_ref)
        if key not in self.held:
            one_at_a_time(self.session, *key)
            _lapse_consumer(self.session, *key, at=order.at)
            self.held[key] = held_by(self.session, *key, at=order.at)
        after = self.held[key] + order.amount
        if after > cap:
            raise DomainError(
                "prepay_over_consumer_cap",
                f"the consumer would hold {format_money(after)} yuan prepaid at this "
                f"institution ({format_money(self.held[key])} already); at most "
                f"{format_money(cap)}",
                extra={"limit": format_money(cap), "held": format_money(self.held[key])},
            )
        self.held[key] = after


def one_at_a_time(session: Session, institution_id: str, student_ref: str) -> None:
    """Two orders of one consumer at once are judged one after the other: on PostgreSQL a
    transaction-level advisory lock on the consumer, taken before their holding is read and
    held until the order commits, so the second reads the first's enrollment (read committed).
    SQLite's write transactions (BEGIN IMMEDIATE) are one at a time already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"consumer:{institution_id}:{student_ref}"},
        )


def _lapse_consumer(
    session: Session, institution_id: str, student_ref: str, *, at: datetime
) -> None:
    """The consumer's orders unpaid past their pay_by cancelled before their room is given to
    another order. Without it a deposit written by a transaction still under way (a batch at
    the lapse, or a replayed morning's deposits with their own earlier clocks) could pay the
    lapsed order after this one took its room: the cap passed. The update waits on the row
    lock a deposit batch holds on an order it pays, and cancels only what is still unpaid
    once it has it; a deposit that comes after finds the order cancelled (suspense). Locked
    in id order, as a deposit batch locks what it pays: two lapsed orders of one consumer paid
    in one batch cannot deadlock with it."""
    due = list(session.scalars(
        select(Enrollment.id)
        .where(Enrollment.institution_id == institution_id,
               Enrollment.student_ref == student_ref,
               Enrollment.status == "awaiting_payment", Enrollment.pay_by <= at)
        .order_by(Enrollment.id)
        .with_for_update()
    ))  # fmt: skip
    if due:
        session.execute(
            update(Enrollment)
            .where(Enrollment.id.in_(due), Enrollment.status == "awaiting_payment")
            .values(status="cancelled")
            .execution_options(synchronize_session="fetch")
        )


def held_by(
    session: Session, institution_id: str, student_ref: str, *, at: datetime | None = None
) -> Decimal:
    """What one consumer holds prepaid at one institution at `at` (None: whatever lapsed):
    owed or paid over all their enrollments, less what is consumed or refunded for good. A
    lesson still in its dispute window and a refund not yet paid may still come back (a
    dispute upheld, a refund denied or failed), so they keep their room until they are
    settled: the cap is never passed later by a reversal."""
    mine = (Enrollment.institution_id == institution_id) & (Enrollment.student_ref == student_ref)
    # An order unpaid past its pay_by has lapsed: no payment is taken for it any more
    # (service.flows.deposits), so it holds no room even before the job cancels it.
    standing = (
        or_(Enrollment.status != "awaiting_payment", Enrollment.pay_by.is_(None),
            Enrollment.pay_by > at) if at is not None else true()
    )  # fmt: skip
    owed = session.scalar(
        select(func.sum(Enrollment.amount_due - Enrollment.amount_consumed
                        - Enrollment.amount_refunded))
        # A cancelled enrollment (never paid: its successor's transfer refused, or lapsed) is
        # owed by nobody and will never be paid: it holds no room.
        .where(mine, Enrollment.status != "cancelled", standing)
    )  # fmt: skip
    refunding = session.scalar(
        select(func.sum(Refund.amount))
        .join(Enrollment, Enrollment.id == Refund.enrollment_id)
        .where(mine, Refund.status.in_(("requested", "accepted", "disputed", "instructed")))
    )
    unsettled = session.scalar(
        select(func.sum(Consumption.amount))
        .join(Enrollment, Enrollment.id == Consumption.enrollment_id)
        .where(mine, Consumption.status.in_(("pending", "disputed")),
               Consumption.release_instruction_id.is_(None))
    )  # fmt: skip
    total = sum((Decimal(x or 0) for x in (owed, refunding, unsettled)), Decimal(0))
    return total.quantize(Decimal("0.01"))


def _enrollable(institution: Institution, course: Course | None, course_id: str) -> Course:
    if course is None or course.institution_id != institution.id:
        raise DomainError("not_found", f"no course {course_id}")
    if institution.status == "frozen":
        raise DomainError(
            "institution_frozen", "the institution is frozen: it may not collect fees"
        )
    if institution.status == "winding_down":
        raise DomainError("institution_winding_down", "the institution is being wound up")
    if institution.status != "active":
        raise DomainError("institution_inactive", f"the institution is {institution.status}")
    if institution.closing_on is not None:
        raise DomainError(
            "institution_closing",
            f"the institution closes on {institution.closing_on.isoformat()}: it may collect "
            "no new fees",
        )
    if course.status != "approved":
        raise DomainError("course_not_approved", f"course {course.id} was {course.status}")
    return course


def _next_sessions(upcoming: list[Planned], lessons: int, now: datetime) -> list[Planned]:
    """The `lessons` sessions bought by an order made at `now`: the next ones by seq."""
    sessions = [s for s in upcoming if s.starts_at > now][:lessons]
    if len(sessions) < lessons:
        raise DomainError(
            "not_enough_sessions",
            f"the course has {len(sessions)} sessions left after now; {lessons} asked",
        )
    return sessions


def own(session: Session, institution: Institution, enrollment_id: str) -> Enrollment:
    """The institution's enrollment; another's is as good as missing."""
    e = session.get(Enrollment, enrollment_id)
    if e is None or e.institution_id != institution.id:
        raise DomainError("not_found", f"no enrollment {enrollment_id}")
    return e


def new_access_code_for(
    session: Session, *, institution: Institution, enrollment_id: str, now: datetime,
    settings: Settings,
) -> str:  # fmt: skip
    """A new access code for one of the institution's enrollments, shown this once: how a
    family with a code of the old, short format gets a full-length one (only keyed hashes are
    kept, so old codes cannot be lengthened in place), or a code handed to the wrong person is
    revoked. The old code stops working and the family's open sessions end. Audited."""
    e = own(session, institution, enrollment_id)
    code = new_access_code()
    e.access_code_hash = keyed_hash(settings.secret_key, normal_access_code(code))
    ended = session.scalars(
        delete(ParentSession)
        .where(ParentSession.enrollment_id == e.id)
        .returning(ParentSession.token_hash)
    ).all()
    audit(session, actor=f"institution:{institution.id}", action="enrollment:new_access_code",
          subject=e.id, detail={"sessions_ended": len(ended)}, now=now,
          institution=institution)  # fmt: skip
    session.flush()
    return code


def lock(session: Session, enrollment_id: str) -> Enrollment:
    enrollment = session.get(
        Enrollment, enrollment_id, with_for_update=True, populate_existing=True
    )
    if enrollment is None:
        raise DomainError("not_found", f"no enrollment {enrollment_id}")
    return enrollment


# No money ever came: waiting for it, or `cancelled` (made for a successor's transfer the bank
# refused, docs/winddown.md; or lapsed unpaid): nothing to refund, no lesson to report, no
# deposit matches it.
UNPAID = ("awaiting_payment", "cancelled")


def lapsed(pay_by: datetime | None, now: datetime) -> bool:
    """Whether an order unpaid at `now` has lapsed (the pack's `unpaid_order_expiry`)."""
    return pay_by is not None and now >= pay_by


def lapse_unpaid(session: Session, *, as_of: datetime, region_prefix: str | None = None) -> int:
    """The `unpaid_order_expiry` job: every order still unpaid past its pay_by `cancelled`,
    as a successor's enrollment whose transfer failed is (nothing was paid into it; a late
    payment goes to suspense). Locked in id order, as a deposit batch locks what it pays, and
    cancelled only if still unpaid once locked: a payment taken first keeps its order."""
    due = (
        select(Enrollment.id)
        .where(Enrollment.status == "awaiting_payment", Enrollment.pay_by <= as_of)
        .order_by(Enrollment.id)
        .with_for_update()
    )
    if region_prefix is not None:
        scope = select(Institution.id).where(Institution.region_code.startswith(region_prefix))
        due = due.where(Enrollment.institution_id.in_(scope))
    ids = list(session.scalars(due))
    if not ids:
        return 0
    session.execute(
        update(Enrollment)
        .where(Enrollment.id.in_(ids), Enrollment.status == "awaiting_payment")
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    return len(ids)


def remaining_lessons(e: Enrollment) -> int:
    return e.lessons - e.lessons_consumed - e.lessons_refunded


def balance(e: Enrollment) -> Decimal:
    """Unconsumed and not refunded: what the parent could still get back."""
    return e.amount_paid - e.amount_consumed - e.amount_refunded


def consumption_amount(e: Enrollment, lessons: int) -> Decimal:
    """Cumulative rounding over the whole enrollment, so every report sums to the price."""
    return (
        cumulative_share(e.amount_paid, e.lessons, e.lessons_consumed + lessons) - e.amount_consumed
    )


def refund_amount(e: Enrollment, lessons: int) -> Decimal:
    """Refunds are priced as the last lessons; refunding all that remain returns the exact
    unconsumed balance."""
    if lessons == remaining_lessons(e):
        return balance(e)
    top = e.lessons - e.lessons_refunded
    return cumulative_share(e.amount_paid, e.lessons, top) - cumulative_share(
        e.amount_paid, e.lessons, top - lessons
    )


def settle_status(e: Enrollment) -> None:
    e.status = settled_status(e.status, e.lessons, e.lessons_consumed, e.lessons_refunded)


def settled_status(status: str, lessons: int, consumed: int, refunded: int) -> str:
    """What a paid enrollment is once its lessons are counted: active while any remain."""
    if status in UNPAID:
        return status
    if lessons - consumed - refunded == 0:
        return "refunded" if refunded else "completed"
    return "active"
