"""Fee supervision tables: guidance prices, school calendars, course filings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import Money, UTCDateTime
from service.kit.db import Base


class PriceGuide(Base):
    """A published guidance price table of one region, in force from `effective_from`. A
    guide replaced for its day is kept, with the guide that replaced it and when: only one
    guide per region and day is current (`superseded_by` empty)."""

    __tablename__ = "price_guides"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    effective_from: Mapped[date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    superseded_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


Index("ix_price_guides_region", PriceGuide.region_code, PriceGuide.effective_from)
Index(
    "uq_price_guides_current",
    PriceGuide.region_code,
    PriceGuide.effective_from,
    unique=True,
    postgresql_where=text("superseded_by IS NULL"),
    sqlite_where=text("superseded_by IS NULL"),
)


class PriceGuideItem(Base):
    """One band: yuan per student per standard class hour, and the allowed upward float."""

    __tablename__ = "price_guide_items"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    guide_id: Mapped[str] = mapped_column(ForeignKey("price_guides.id"), index=True)
    mode: Mapped[str] = mapped_column(String(8))  # offline | online
    grade_band: Mapped[str] = mapped_column(String(12))  # preschool|primary|junior|senior|any
    class_size_min: Mapped[int] = mapped_column(Integer)
    class_size_max: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no bound
    standard_minutes: Mapped[int] = mapped_column(Integer)
    base_price: Mapped[Decimal] = mapped_column(Money())
    max_float_pct: Mapped[Decimal] = mapped_column(Money())


class SchoolVacation(Base):
    """A winter or summer vacation of a region's school calendar (inclusive dates)."""

    __tablename__ = "school_vacations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(40))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)


class Course(Base):
    """A course as filed, with the verdict of the rule engine at filing time."""

    __tablename__ = "courses"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(60))
    category: Mapped[str] = mapped_column(String(16))
    grade_band: Mapped[str] = mapped_column(String(12))
    mode: Mapped[str] = mapped_column(String(8))
    class_size: Mapped[int] = mapped_column(Integer)
    lesson_minutes: Mapped[int] = mapped_column(Integer)
    lessons_total: Mapped[int] = mapped_column(Integer)
    price_per_lesson: Mapped[Decimal] = mapped_column(Money())  # yuan per student per lesson
    list_price_per_lesson: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    # A gym's kind of prepaid card: sessions | membership | stored_value (None: as filed
    # before cards had kinds, a card of sessions); held to the pack's card caps of its kind.
    card_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status: Mapped[str] = mapped_column(String(12))  # approved | rejected
    violations: Mapped[Any] = mapped_column(JSON)
    price_check: Mapped[Any] = mapped_column(JSON)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CourseSession(Base):
    """A planned lesson: enrollments buy the next sessions after they are made."""

    __tablename__ = "course_sessions"
    course_id: Mapped[str] = mapped_column(ForeignKey("courses.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based, in time order
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_course_sessions_start", CourseSession.course_id, CourseSession.starts_at)
Index("ix_course_sessions_when", CourseSession.starts_at)
