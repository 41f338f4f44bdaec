"""Response bodies of the public disclosure (no credential)."""

from __future__ import annotations

import builtins
from typing import Literal

from service.api.schemas import Read
from service.fees.filings import Disclosure
from service.fees.models import Course
from service.kit.money import MoneyOut

LIST: dict[str, Literal["white", "black", "closed"]] = {
    "active": "white",
    "frozen": "white",
    "blacklisted": "black",
    "closed": "closed",
}


class PublicCourseRead(Read):
    id: str
    title: str
    subject: str
    grade_band: str
    mode: str
    class_size: int
    lesson_minutes: int
    lessons_total: int
    price_per_lesson: MoneyOut

    @classmethod
    def of(cls, c: Course) -> PublicCourseRead:
        return cls.model_validate(c, from_attributes=True)


class PublicInstitutionRead(Read):
    """What anyone may know of a registered institution: its list (white: supervised; black:
    blacklisted), how its prepayments are supervised, and its approved fees."""

    name: str
    credit_code: str
    region_code: str
    category: str
    status: str
    list: Literal["white", "black", "closed"]
    supervision_mode: str
    courses: builtins.list[PublicCourseRead]

    @classmethod
    def of(cls, d: Disclosure) -> PublicInstitutionRead:
        i = d.institution
        return cls(
            name=i.name,
            credit_code=i.credit_code,
            region_code=i.region_code,
            category=i.category,
            status=i.status,
            list=LIST[i.status],
            supervision_mode=i.supervision_mode,
            courses=[PublicCourseRead.of(c) for c in d.courses],
        )
