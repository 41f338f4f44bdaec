"""Lessons reported by institutions (一课一消): prepaid → earned, with a dispute window."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

import ledger
from service.errors import DomainError
from service.fees.models import CourseSession
from service.fees.working_days import InstantDeadline, span_end
from service.flows import chart, enrollments
from service.flows import counters as rollups
from service.flows.models import Claim, Consumption, Enrollment
from service.kit.choices import choose
from service.kit.clock import local_date
from service.kit.db import insert_many
from service.kit.ids import new_id
from service.policy import packs
from service.registry.institutions import audit_decision, in_regulator_scope, refuse_unless_disputed
from service.registry.models import Institution, Regulator


class Decision(StrEnum):
    """A regulator's decision on a disputed lesson: uphold it (it may be released) or reverse
    it (its amount returns to the parent's balance)."""

    UPHOLD = "uphold"
    REVERSE = "reverse"


@dataclass(frozen=True, kw_only=True)
class Lesson:
    """A report taken, as its row in `consumptions` is written: a class's hundreds are
    written as plain rows (as objects they cost more than the rest of the report)."""

    id: str
    enrollment_id: str
    institution_id: str
    lessons: int
    amount: Decimal
    occurred_at: datetime
    reported_at: datetime
    confirm_until: datetime
    confirm_until_provisional: bool
    session_ref: str | None
    off_timetable: bool
    status: str = "pending"
    dispute_reason: str | None = None
    disputed_at: datetime | None = None
    release_instruction_id: str | None = None

    def row(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True, kw_only=True)
class Reported:
    consumption: Lesson
    enrollment: Enrollment  # as the lesson left it


@dataclass(frozen=True, kw_only=True)
class LessonReport:
    """Lessons of one enrollment reported as delivered."""

    enrollment_id: str
    lessons: int
    occurred_at: datetime
    session_ref: str | None = None


def report(
    session: Session,
    *,
    institution: Institution,
    enrollment_id: str,
    lessons: int,
    occurred_at: datetime,
    session_ref: str | None,
    now: datetime,
) -> Reported:
    """Lessons delivered (一课一消): prepaid → earned, with the parent's window to dispute
    (`report_many` of one)."""
    item = LessonReport(
        enrollment_id=enrollment_id,
        lessons=lessons,
        occurred_at=occurred_at,
        session_ref=session_ref,
    )
    out = report_many(session, institution=institution, items=[item], now=now)[0]
    if isinstance(out, DomainError):
        raise out
    return out


def report_many(
    session: Session, *, institution: Institution, items: Sequence[LessonReport], now: datetime
) -> list[Reported | DomainError]:
    """Lessons of several enrollments reported at once (a class's lesson), each judged as if
    reported alone in the order given: a refused report is an error in its slot and changes
    nothing. The window to dispute runs from the report, never from the date claimed. The
    ledger's part is one batch: if the ledger refuses it, the caller's transaction must not
    keep any of it."""
    return report_classes(session, classes=[(institution, items)], now=now)[0]


def report_classes(
    session: Session,
    *,
    classes: Sequence[tuple[Institution, Sequence[LessonReport]]],
    now: datetime,
) -> list[list[Reported | DomainError]]:
    """`report_many` for the classes of several institutions reported at the same instant (a
    replayed history's evening), in one pass: one lock of all the enrollments named, one
    read of their sessions, one ledger batch, one write of the day counters."""
    everything = [i for _, items in classes for i in items]
    locked = _lock_all(session, [i.enrollment_id for i in everything])
    latest = max((i.occurred_at for i in everything), default=now)
    starts = _session_starts(session, locked.values(), latest)
    # Each region's and sector's window ends at one instant for every lesson reported now:
    # resolved (from the packs' cache) and counted once, not per lesson.
    ends: dict[tuple[str, str], InstantDeadline] = {}
    out: list[list[Reported | DomainError]] = []
    for institution, items in classes:
        key = (institution.region_code, packs.sector_of(institution.category))
        if key not in ends:
            pack = packs.resolve(session, *key, on=local_date(now))
            ends[key] = span_end(now, pack.values.confirmation_window)
        out.append(_take_all(institution, items, locked, starts, ends[key], now))
    done = [r for results in out for r in results if isinstance(r, Reported)]
    insert_many(session, _CONSUMPTIONS, [r.consumption.row() for r in done])
    with session.no_autoflush:  # the enrollments are written below, in one statement
        _post(session, done, now)
    _write_counted({r.enrollment.id: r.enrollment for r in done}.values(), session)
    session.flush()
    return out


def _write_counted(enrolled: Collection[Enrollment], session: Session) -> None:
    """The enrollments as the reports left them, in one executemany (flushed as objects, a
    class's changes went out as hundreds of small statements, split wherever one's status
    changed and the next one's did not); the objects are then as written, not dirty."""
    rows = [
        {"e_id": e.id, "e_lc": e.lessons_consumed, "e_ac": e.amount_consumed, "e_st": e.status}
        for e in enrolled
    ]
    if not rows:
        return
    session.connection().execute(_COUNTED, rows)
    for e in enrolled:
        for attr in ("lessons_consumed", "amount_consumed", "status"):
            set_committed_value(e, attr, getattr(e, attr))


_ENROLLMENTS = Enrollment.metadata.tables[Enrollment.__tablename__]
_COUNTED = (
    update(_ENROLLMENTS)
    .where(_ENROLLMENTS.c.id == bindparam("e_id"))
    .values(lessons_consumed=bindparam("e_lc"), amount_consumed=bindparam("e_ac"),
            status=bindparam("e_st"))
)  # fmt: skip


_CONSUMPTIONS = Consumption.metadata.tables[Consumption.__tablename__]


def _take_all(
    institution: Institution,
    items: Sequence[LessonReport],
    locked: dict[str, Enrollment],
    starts: dict[str, _Started],
    confirm_until: InstantDeadline,
    now: datetime,
) -> list[Reported | DomainError]:
    out: list[Reported | DomainError] = []
    for item in items:
        e = locked.get(item.enrollment_id)
        try:
            if e is None or e.institution_id != institution.id:
                raise DomainError("not_found", f"no enrollment {item.enrollment_id}")
            if institution.status == "winding_down":
                raise DomainError("institution_winding_down", "the institution is being wound up")
            out.append(_take(e, item, starts, confirm_until=confirm_until, now=now))
        except DomainError as exc:
            out.append(exc)
    return out


def _lock_all(session: Session, ids: list[str]) -> dict[str, Enrollment]:
    """The enrollments named, locked in id order (as every writer locks them) and read anew."""
    conn = session.connection()
    rows = session.scalars(
        select(Enrollment)
        .where(ledger.one_of(conn, Enrollment.id, set(ids)))
        .order_by(Enrollment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {e.id: e for e in rows}


@dataclass(kw_only=True)
class _Started:
    """A course's sessions started by an instant, by seq: in time order too (a filing numbers
    them so), so those started by any earlier instant are a prefix."""

    seqs: list[int] = field(default_factory=list)
    starts: list[datetime] = field(default_factory=list)

    def count(self, first: int, last: int, by: datetime) -> int:
        """How many of the sessions `first`..`last` had started by `by`."""
        n = bisect_right(self.starts, by)
        return max(0, bisect_right(self.seqs, last, 0, n) - bisect_left(self.seqs, first, 0, n))


def _session_starts(
    session: Session, enrolled: Iterable[Enrollment], by: datetime
) -> dict[str, _Started]:
    """The sessions started by `by` of the courses the enrollments bought, by course."""
    courses = {e.course_id for e in enrolled}
    out = {c: _Started() for c in courses}
    if courses:
        conn = session.connection()
        for course_id, seq, starts_at in session.execute(
            select(CourseSession.course_id, CourseSession.seq, CourseSession.starts_at)
            .where(ledger.one_of(conn, CourseSession.course_id, courses),
                   CourseSession.starts_at <= by)
            .order_by(CourseSession.course_id, CourseSession.seq)
        ):  # fmt: skip
            out[course_id].seqs.append(seq)
            out[course_id].starts.append(starts_at)
    return out


def _take(
    e: Enrollment,
    item: LessonReport,
    starts: dict[str, _Started],
    *,
    confirm_until: InstantDeadline,
    now: datetime,
) -> Reported:
    """One report judged against the enrollment as the reports before it left it."""
    if item.occurred_at > now:
        raise DomainError(
            "occurred_in_future", f"occurred_at {item.occurred_at.isoformat()} is after now"
        )
    if e.status == "awaiting_payment" or e.paid_at is None:
        raise DomainError("not_funded", "the enrollment has not been paid into escrow")
    if e.member_to_name:
        raise DomainError(
            "member_not_named",
            "a transferred enrollment: name the member it is (POST /enrollments/{id}/member) "
            "before reporting its lessons",
        )
    if item.occurred_at < e.paid_at:
        raise DomainError(
            "occurred_before_payment",
            f"occurred_at {item.occurred_at.isoformat()} is before the enrollment was paid "
            f"({e.paid_at.isoformat()})",
        )
    remaining = enrollments.remaining_lessons(e)
    if item.lessons > remaining:
        raise DomainError(
            "exceeds_remaining", f"{item.lessons} lessons reported; {remaining} remain"
        )
    course = starts.get(e.course_id, _Started())
    started = course.count(e.first_session_seq, e.last_session_seq, item.occurred_at)
    amount = enrollments.consumption_amount(e, item.lessons)
    c = Lesson(
        id=new_id("con"),
        enrollment_id=e.id,
        institution_id=e.institution_id,
        lessons=item.lessons,
        amount=amount,
        occurred_at=item.occurred_at,
        reported_at=now,
        # From the report, never from the date claimed: a lesson claimed long ago still gives
        # the parent the whole window to dispute it.
        confirm_until=confirm_until.at,
        confirm_until_provisional=confirm_until.provisional,
        session_ref=item.session_ref,
        off_timetable=e.lessons_consumed + item.lessons > started,
    )
    e.lessons_consumed += item.lessons
    e.amount_consumed += amount
    enrollments.settle_status(e)
    return Reported(consumption=c, enrollment=e)


def _post(session: Session, done: list[Reported], now: datetime) -> None:
    """The ledger's part of the reports taken, then the day's counters (the lock order of every
    use case: business rows, the ledger, the counters last): each lesson's price moves from
    what the parent is owed to what its institution earned."""
    if not done:
        return
    paid = [r for r in done if r.consumption.amount > 0]
    if paid:
        conn = session.connection()
        owners = {r.enrollment.id: r.enrollment.institution_id for r in paid}
        ids, earned = chart.lesson_accounts(conn, owners, at=now)
        ops = [
            ledger.NewTransfer(
                debit_account_id=ids[r.enrollment.id],
                credit_account_id=earned[r.enrollment.institution_id],
                amount=r.consumption.amount,
                code="consumption",
                pending=False,
                expires_at=None,
                reference=f"consumption:{r.consumption.id}",
                idempotency_key=f"consumption:{r.consumption.id}",
            )
            for r in paid
        ]
        ledger.batch(conn, ops, at=now)
    rollups.bump_many(
        session,
        [
            (r.enrollment.institution_id, now,
             {"lessons_consumed": r.consumption.lessons, "prepaid_delta": -r.consumption.amount})
            for r in done
        ],
    )  # fmt: skip


def dispute(
    session: Session, *, consumption_id: str, enrollment_id: str, reason: str, now: datetime
) -> Consumption:
    c = session.get(Consumption, consumption_id, with_for_update=True, populate_existing=True)
    if c is None or c.enrollment_id != enrollment_id:
        raise DomainError("not_found", f"no consumption {consumption_id}")
    if c.status != "pending" or now > c.confirm_until or c.release_instruction_id is not None:
        raise DomainError(
            "invalid_state",
            "only a lesson inside its confirmation window can be disputed",
            extra={"state": parent_status(c, now)},
        )
    _claim_not_transferred(session, c.enrollment_id)
    c.status, c.dispute_reason, c.disputed_at = "disputed", reason, now
    session.flush()
    return c


def _claim_not_transferred(session: Session, enrollment_id: str) -> None:
    """A lesson disputed and reversed in a wind-down joins the enrollment's claim (what the
    rounds pay). A transferred claim is settled for the parent (the successor teaches the
    lessons counted left when it moved) and the rounds skip it: a reversal would change what is
    owed where nothing pays it, so the lesson's dispute ends there."""
    # Locked, as the parent's acceptance of a successor locks it (before the enrollment): the
    # state read is the one the reversal then acts on, and the two take claim then enrollment.
    status = session.scalar(
        select(Claim.status).where(Claim.enrollment_id == enrollment_id).with_for_update()
    )
    if status == "transferred":
        raise DomainError(
            "invalid_state",
            "the enrollment's claim in the wind-down has moved to a successor school; a lesson "
            "of the school being wound up can no longer be disputed or reversed",
            extra={"state": "transferred"},
        )


def decide(
    session: Session,
    *,
    regulator: Regulator,
    consumption_id: str,
    decision: Decision,
    reason: str,
    now: datetime,
) -> Consumption:
    """A regulator settles a disputed lesson in their region: uphold lets it be released,
    reverse returns its amount to the parent's balance. Audited. Anything else is refused
    before the lesson is read."""
    decision = choose(Decision, decision, field="decision")
    consumption = session.get(Consumption, consumption_id, with_for_update=True)
    if consumption is None:
        raise DomainError("not_found", f"no consumption {consumption_id}")
    inst = in_regulator_scope(session, regulator, consumption.institution_id)
    refuse_unless_disputed("lesson", consumption.status)
    if decision is not Decision.UPHOLD:
        _claim_not_transferred(session, consumption.enrollment_id)
    audit_decision(session, regulator=regulator, kind="consumption", subject=consumption.id,
                   decision=decision.value, reason=reason, now=now, institution=inst)  # fmt: skip
    if decision is Decision.UPHOLD:
        consumption.status = "upheld"
        session.flush()
        return consumption
    return reverse(session, consumption, now)


def reverse(session: Session, consumption: Consumption, now: datetime) -> Consumption:
    """The lesson's amount back to the parent's balance; in a wind-down, to their claim."""
    e = enrollments.lock(session, consumption.enrollment_id)
    claim = session.scalar(
        select(Claim).where(Claim.enrollment_id == e.id).with_for_update()
    )  # a business row: locked before the ledger
    if claim is not None and claim.status == "transferred":
        # decide() checked before locking: a transfer that committed since is seen here.
        _claim_not_transferred(session, e.id)
    if claim is not None:
        claim.amount += consumption.amount
        if claim.status == "paid":
            claim.status = "open"
    e.lessons_consumed -= consumption.lessons
    e.amount_consumed -= consumption.amount
    enrollments.settle_status(e)
    consumption.status = "reversed"
    conn = session.connection()
    if consumption.amount > 0:
        ledger.transfer(
            conn,
            debit=chart.institution_account(conn, consumption.institution_id, "earned").id,
            credit=chart.prepaid_account(conn, consumption.institution_id, e.id, at=now).id,
            amount=consumption.amount,
            code="reversal",
            at=now,
            reference=f"consumption:{consumption.id}",
            idempotency_key=f"reversal:{consumption.id}",
        )
    rollups.bump(  # after the ledger: the lock order of every use case
        session,
        institution_id=consumption.institution_id,
        at=now,
        lessons_consumed=-consumption.lessons,
        prepaid_delta=consumption.amount,
    )
    session.flush()
    return consumption


def parent_status(c: Consumption, now: datetime) -> str:
    if c.status in ("disputed", "reversed"):
        return c.status
    return "pending" if now <= c.confirm_until and c.status == "pending" else "confirmed"


def of_enrollment(session: Session, enrollment_id: str) -> list[Consumption]:
    """The lessons reported on one enrollment, in the order they were held."""
    return list(
        session.scalars(
            select(Consumption)
            .where(Consumption.enrollment_id == enrollment_id)
            .order_by(Consumption.occurred_at)
        )
    )
