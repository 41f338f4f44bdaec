"""Institution endpoints: course filings, enrollments, lessons, refunds, balances. Each takes
the authenticated institution, makes one domain call and returns a typed body."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.auth import InstitutionDep
from service.api.deps import (
    DeliverLaterDep,
    NowDep,
    PageDep,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    page_of,
)
from service.api.institution.schemas import (
    AccessCodeRead,
    ClosureIn,
    ClosureRead,
    ConsumptionIn,
    CourseIn,
    EnrolledRead,
    EnrollmentIn,
    MemberIn,
    ReportedRead,
    RespondIn,
)
from service.api.problems import refusals
from service.api.schemas import BalancesRead, CourseRead, EnrollmentRead, Page, RefundTimelineRead
from service.fees import filings
from service.flows import consumptions, enrollments, refunds, successors
from service.flows.balances import institution_balances
from service.registry import closures

router = APIRouter(tags=["institution"])


def course_data(body: CourseIn) -> filings.CourseData:
    return filings.CourseData(
        title=body.title,
        subject=body.subject,
        category=body.category,
        grade_band=body.grade_band,
        mode=body.mode,
        class_size=body.class_size,
        lesson_minutes=body.lesson_minutes,
        lessons_total=body.lessons_total,
        price_per_lesson=body.price_per_lesson,
        list_price_per_lesson=body.list_price_per_lesson,
        sessions=tuple((s.starts_at, s.ends_at) for s in body.sessions),
        card_kind=body.card_kind,
    )


@router.post(
    "/courses",
    status_code=201,
    response_model=CourseRead,
    # Sessions that each last `lesson_minutes`, one a lesson, none at the same start
    # (`validation_error`), and not all over already: what no schema states.
    responses=refusals("sessions_in_past", "institution_frozen"),
)
def file_course(
    body: CourseIn, inst: InstitutionDep, session: SessionDep, now: NowDep
) -> CourseRead:
    course = filings.file_course(session, institution=inst, data=course_data(body), now=now)
    return CourseRead.of(course)


@router.get("/courses", response_model=Page[CourseRead])
def list_courses(inst: InstitutionDep, session: ReadSessionDep, page: PageDep) -> Page[CourseRead]:
    return page_of(filings.courses_of(session, inst.id, page), CourseRead.of)


@router.get("/courses/{course_id}", response_model=CourseRead)
def get_course(course_id: str, inst: InstitutionDep, session: SessionDep) -> CourseRead:
    return CourseRead.of(filings.course_of(session, inst, course_id))


@router.post("/enrollments", status_code=201, response_model=EnrolledRead)
def enroll(
    body: EnrollmentIn,
    inst: InstitutionDep,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> EnrolledRead:
    made = enrollments.create(
        session,
        institution=inst,
        course_id=body.course_id,
        student_ref=body.student_ref,
        lessons=body.lessons,
        amount=body.amount,
        now=now,
        settings=settings,
    )
    return EnrolledRead.of(made, settings)


@router.post("/enrollments/{enrollment_id}/access-code", response_model=AccessCodeRead)
def new_access_code(
    enrollment_id: str, inst: InstitutionDep, session: SessionDep, now: NowDep,
    settings: SettingsDep,
) -> AccessCodeRead:  # fmt: skip
    """A new access code for the family, shown this once (the old one stops working and the
    family's sessions end): a full-length code for a family holding one of the old, short
    format, or a code handed to the wrong person revoked."""
    code = enrollments.new_access_code_for(session, institution=inst, enrollment_id=enrollment_id,
                                           now=now, settings=settings)  # fmt: skip
    return AccessCodeRead.of(enrollment_id, code, settings)


@router.get("/enrollments/{enrollment_id}", response_model=EnrollmentRead)
def get_enrollment(enrollment_id: str, inst: InstitutionDep, session: SessionDep) -> EnrollmentRead:
    return EnrollmentRead.of(enrollments.own(session, inst, enrollment_id))


@router.post(
    "/enrollments/{enrollment_id}/member",
    response_model=EnrollmentRead,
    responses=refusals("not_found", "invalid_state"),
)
def name_member(
    enrollment_id: str, body: MemberIn, inst: InstitutionDep, session: SessionDep, now: NowDep
) -> EnrollmentRead:
    """A successor names the member a transferred enrollment is (its own reference for the
    consumer; the one carried over for a member new to it): the per-consumer cap then counts
    it with what that member holds, and lessons may be reported on it."""
    e = successors.name_member(session, institution=inst, enrollment_id=enrollment_id,
                               student_ref=body.student_ref, now=now)  # fmt: skip
    return EnrollmentRead.of(e)


@router.post(
    "/enrollments/{enrollment_id}/consumptions", status_code=201, response_model=ReportedRead
)
def consume(
    enrollment_id: str, body: ConsumptionIn, inst: InstitutionDep, session: SessionDep, now: NowDep
) -> ReportedRead:
    reported = consumptions.report(
        session,
        institution=inst,
        enrollment_id=enrollment_id,
        lessons=body.lessons,
        occurred_at=body.occurred_at,
        session_ref=body.session_ref,
        now=now,
    )
    return ReportedRead.of(reported)


@router.post("/refunds/{refund_id}/respond", response_model=RefundTimelineRead)
def respond(
    refund_id: str,
    body: RespondIn,
    inst: InstitutionDep,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
) -> RefundTimelineRead:
    refund = refunds.respond(
        session,
        institution=inst,
        refund_id=refund_id,
        decision=refunds.Answer(body.decision),
        reason=body.reason,
        now=now,
    )
    deliver_later()
    return RefundTimelineRead.with_events(refund, refunds.timeline(session, refund), now)


@router.post(
    "/closure",
    response_model=ClosureRead,
    # Not before today: a day the schema cannot fix.
    responses=refusals("closure_in_past", "institution_inactive"),
)
def announce_closure(
    body: ClosureIn, inst: InstitutionDep, session: SessionDep, now: NowDep
) -> ClosureRead:
    """Announce the institution's planned closure (docs/domain.md: a month's notice, then every
    unconsumed fee refunded). From now it collects no new fees."""
    closures.announce(
        session, institution=inst, effective=body.effective, reason=body.reason,
        actor=f"institution:{inst.id}", now=now,
    )  # fmt: skip
    return ClosureRead.of(inst)


@router.get("/balances", response_model=BalancesRead)
def balances(inst: InstitutionDep, session: SessionDep) -> BalancesRead:
    return BalancesRead.of(institution_balances(session.connection(), inst.id))
