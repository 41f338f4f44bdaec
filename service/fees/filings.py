"""Filing a course: check it against the rules and the guidance price in force, and store it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees import rules
from service.fees.models import Course, CourseSession, SchoolVacation
from service.fees.prices import load_guidebook
from service.kit.clock import local_date
from service.kit.db import insert_many
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.policy import packs
from service.registry.models import Institution, Regulator
from service.registry.regions import ancestry, in_scope, is_valid_region


@dataclass(frozen=True, kw_only=True)
class CourseData:
    title: str
    subject: str
    category: str
    grade_band: str
    mode: str
    class_size: int
    lesson_minutes: int
    lessons_total: int
    price_per_lesson: Decimal
    list_price_per_lesson: Decimal | None
    sessions: tuple[tuple[datetime, datetime], ...]
    # A gym's kind of prepaid card (None: a card of sessions, as every course is taught).
    card_kind: str | None = None

    def filing(self, region_code: str) -> rules.Filing:
        return rules.Filing(
            category=self.category,
            grade_band=self.grade_band,
            mode=self.mode,
            class_size=self.class_size,
            lesson_minutes=self.lesson_minutes,
            lessons_total=self.lessons_total,
            price_per_lesson=self.price_per_lesson,
            list_price_per_lesson=self.list_price_per_lesson,
            sessions=tuple(sorted(self.sessions)),
            region_code=region_code,
            card_kind=self.card_kind or "sessions",
        )


def load_context(session: Session, region_code: str) -> rules.Context:
    """What the rules read for a filing in `region_code`: the guides and vacations of the
    region and the divisions enclosing it (the rules look no further)."""
    regions = ancestry(region_code)
    vacations: dict[str, list[rules.Vacation]] = defaultdict(list)
    for v in session.scalars(select(SchoolVacation).where(SchoolVacation.region_code.in_(regions))):
        vacations[v.region_code].append(
            rules.Vacation(name=v.name, start=v.start_date, end=v.end_date)
        )
    return rules.Context(guides=load_guidebook(session, regions), vacations=dict(vacations))


def sector_for(institution: Institution | None, data: CourseData) -> str:
    """The pack's sector a filing is judged under: a gym's (whatever the course's category),
    else the course's own category's."""
    fitness = institution is not None and institution.category == "fitness"
    return packs.sector_of("fitness" if fitness else data.category)


def check(
    session: Session, data: CourseData, *, region_code: str, sector: str, on: date
) -> rules.Verdict:
    """The filing's verdict under the rules and the pack in force on `on` for the region and
    sector (its card caps: a gym's filing is judged as a card of sessions)."""
    ctx = load_context(session, region_code)
    ctx.card_caps = packs.resolve(session, region_code, sector, on=on).values.card_caps
    return rules.check(data.filing(region_code), ctx)


def check_for(
    session: Session,
    *,
    regulator: Regulator,
    data: CourseData,
    region_code: str | None,
    on: date,
    sector: str | None = None,
    institution: Institution | None = None,
) -> rules.Verdict:
    """What a filing would get in a region of the regulator's (the named institution's, else
    theirs, by default), under `sector`'s pack (by default the institution's own sector, else
    the school sector of the course's category): a regulator checks a gym's card against the
    fitness pack by naming the gym or the sector. An institution named is judged in its own
    region: another `region_code` beside it is refused, not silently preferred or ignored."""
    if institution is not None:
        region_agrees(region_code, institution)
    region = region_code or (institution.region_code if institution else regulator.region_code)
    if not is_valid_region(region):
        raise DomainError("invalid_region_code", f"unknown region code {region!r}")
    if not in_scope(regulator.region_code, region):
        raise DomainError("out_of_region", f"{region} is outside your region")
    chosen = sector or sector_for(institution, data)
    return check(session, data, region_code=region, sector=chosen, on=on)


def region_agrees(region_code: str | None, institution: Institution) -> None:
    """A course check judged as an institution is judged in its region: a `region_code`
    given beside it must be that region (422 `region_conflict`), since a pack of one region
    with an institution of another is an answer nobody can file under."""
    if region_code is not None and region_code != institution.region_code:
        raise DomainError(
            "region_conflict",
            f"{region_code} is not the region of institution {institution.id} "
            f"({institution.region_code}): give one or the other, or the same",
            extra={"region_code": region_code, "institution_region_code": institution.region_code},
        )


def _refuse_if_over(data: CourseData, now: datetime) -> None:
    """A course with nothing left to teach could be approved but never enrolled in."""
    last_end = max((end for _start, end in data.sessions), default=None)
    if last_end is not None and last_end <= now:
        raise DomainError(
            "sessions_in_past",
            f"every session is over: the last ended {last_end.isoformat()}; file the sessions "
            "still to come",
        )


def file_course(
    session: Session, *, institution: Institution, data: CourseData, now: datetime
) -> Course:
    """File a course, checked against the rules and the guidance price in force: stored
    approved or rejected with its violations. A frozen institution files nothing."""
    if institution.status != "active":
        raise DomainError("institution_frozen", f"the institution is {institution.status}")
    _refuse_if_over(data, now)
    verdict = check(
        session,
        data,
        region_code=institution.region_code,
        sector=sector_for(institution, data),
        on=local_date(now),
    )
    course = Course(
        id=new_id("crs"),
        institution_id=institution.id,
        title=data.title,
        subject=data.subject,
        category=data.category,
        grade_band=data.grade_band,
        mode=data.mode,
        class_size=data.class_size,
        lesson_minutes=data.lesson_minutes,
        lessons_total=data.lessons_total,
        price_per_lesson=data.price_per_lesson,
        list_price_per_lesson=data.list_price_per_lesson,
        card_kind=data.card_kind,
        status=verdict.status,
        violations=verdict.violations,
        price_check=verdict.price_check,
        filed_at=now,
    )
    session.add(course)
    session.flush()
    # As plain rows: a term's hundred sessions as objects cost more than writing them.
    insert_many(
        session,
        _SESSIONS,
        [
            {"course_id": course.id, "seq": i, "starts_at": s, "ends_at": e}
            for i, (s, e) in enumerate(sorted(data.sessions), start=1)
        ],
    )
    return course


_SESSIONS = CourseSession.metadata.tables[CourseSession.__tablename__]


def courses_of(session: Session, institution_id: str, paging: Paging) -> Paged[Course]:
    return page_rows(session, select(Course).where(Course.institution_id == institution_id),
                     Course.id, paging)  # fmt: skip


def course_of(session: Session, institution: Institution, course_id: str) -> Course:
    course = session.get(Course, course_id)
    if course is None or course.institution_id != institution.id:
        raise DomainError("not_found", f"no course {course_id}")
    return course


@dataclass(frozen=True, kw_only=True)
class Disclosure:
    institution: Institution
    courses: list[Course]  # approved, in the order filed


def disclosed(session: Session, credit_code: str) -> Disclosure:
    """What is public of a registered institution: itself and its approved courses."""
    inst = session.scalar(select(Institution).where(Institution.credit_code == credit_code.upper()))
    if inst is None:
        raise DomainError("not_found", f"no registered institution with credit code {credit_code}")
    courses = session.scalars(
        select(Course)
        .where(Course.institution_id == inst.id, Course.status == "approved")
        .order_by(Course.filed_at)
    )
    return Disclosure(institution=inst, courses=list(courses))
