"""Filing a course: check it against the rules and the guidance price in force, and store it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.fees import rules
from service.fees.models import Course, CourseSession, SchoolVacation
from service.fees.prices import load_guidebook
from service.kit.ids import new_id
from service.registry.models import Institution


@dataclass(frozen=True)
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
        )


def load_context(session: Session) -> rules.Context:
    vacations: dict[str, list[rules.Vacation]] = defaultdict(list)
    for v in session.scalars(select(SchoolVacation)):
        vacations[v.region_code].append(rules.Vacation(v.name, v.start_date, v.end_date))
    return rules.Context(guides=load_guidebook(session), vacations=dict(vacations))


def check(session: Session, data: CourseData, *, region_code: str) -> rules.Verdict:
    return rules.check(data.filing(region_code), load_context(session))


def file_course(
    session: Session, *, institution: Institution, data: CourseData, now: datetime
) -> Course:
    verdict = check(session, data, region_code=institution.region_code)
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
        status=verdict.status,
        violations=verdict.violations,
        price_check=verdict.price_check,
        filed_at=now,
    )
    session.add(course)
    session.flush()
    session.add_all(
        CourseSession(course_id=course.id, seq=i, starts_at=s, ends_at=e)
        for i, (s, e) in enumerate(sorted(data.sessions), start=1)
    )
    session.flush()
    return course


def course_view(course: Course) -> dict[str, Any]:
    from service.kit.money import format_money

    return {
        "id": course.id,
        "title": course.title,
        "subject": course.subject,
        "category": course.category,
        "grade_band": course.grade_band,
        "mode": course.mode,
        "class_size": course.class_size,
        "lesson_minutes": course.lesson_minutes,
        "lessons_total": course.lessons_total,
        "price_per_lesson": format_money(course.price_per_lesson),
        "list_price_per_lesson": (
            format_money(course.list_price_per_lesson) if course.list_price_per_lesson else None
        ),
        "status": course.status,
        "violations": course.violations,
        "price_check": course.price_check,
        "filed_at": course.filed_at.isoformat(),
    }
