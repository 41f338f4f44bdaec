"""Wire shapes of course filings and guidance prices (shared by the institution's and the
regulator's routers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, StrictInt, model_validator

from service.kit.money import Day, Instant, Money, PositiveMoney
from service.kit.wire import Strict

GradeBand = Literal["preschool", "primary", "junior", "senior"]
Mode = Literal["offline", "online"]


class SessionIn(Strict):
    starts_at: Instant
    ends_at: Instant


class CourseIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=60)
    category: Literal["subject", "non_subject"]
    grade_band: GradeBand
    mode: Mode
    class_size: StrictInt = Field(ge=1, le=10_000)
    lesson_minutes: StrictInt = Field(ge=1, le=600)
    lessons_total: StrictInt = Field(ge=1, le=1000)
    price_per_lesson: PositiveMoney
    list_price_per_lesson: PositiveMoney | None = None
    sessions: list[SessionIn] = Field(min_length=1, max_length=1000)

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
    region_code: str | None = Field(default=None, pattern=r"^\d{6}$")


class GuideItemIn(Strict):
    mode: Mode
    grade_band: Literal["preschool", "primary", "junior", "senior", "any"]
    class_size_min: StrictInt = Field(ge=1, le=100_000)
    class_size_max: StrictInt | None = Field(ge=1, le=100_000)
    standard_minutes: StrictInt = Field(ge=1, le=240)
    base_price: PositiveMoney
    max_float_pct: Money = Field(default=Decimal("10"))

    @model_validator(mode="after")
    def _float_cap(self) -> GuideItemIn:
        if self.max_float_pct > 100:
            raise ValueError("max_float_pct above 100 is not a float cap")
        return self


class PriceGuideIn(Strict):
    region_code: str = Field(pattern=r"^\d{6}$")
    effective_from: Day
    items: list[GuideItemIn] = Field(min_length=1, max_length=200)
    source: str | None = Field(default=None, max_length=200)


class VacationIn(Strict):
    name: str = Field(min_length=1, max_length=40)
    start: Day
    end: Day

    @model_validator(mode="after")
    def _order(self) -> VacationIn:
        if self.end < self.start:
            raise ValueError("a vacation ends before it starts")
        return self


class SchoolCalendarIn(Strict):
    region_code: str = Field(pattern=r"^\d{6}$")
    year: StrictInt = Field(ge=2000, le=2100)
    vacations: list[VacationIn] = Field(max_length=10)
