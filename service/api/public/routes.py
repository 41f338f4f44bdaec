"""Public disclosure: fees must be public before service (DOMAIN.md §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from service.api.deps import SessionDep
from service.errors import DomainError
from service.fees.models import Course
from service.kit.money import format_money
from service.registry.models import Institution

router = APIRouter(prefix="/public", tags=["public"])

LIST = {"active": "white", "frozen": "white", "blacklisted": "black", "closed": "closed"}


@router.get("/institutions/{credit_code}")
def disclose(credit_code: str, session: SessionDep) -> dict[str, Any]:
    inst = session.scalar(select(Institution).where(Institution.credit_code == credit_code.upper()))
    if inst is None:
        raise DomainError("not_found", f"no registered institution with credit code {credit_code}")
    courses = session.scalars(
        select(Course)
        .where(Course.institution_id == inst.id, Course.status == "approved")
        .order_by(Course.filed_at)
    )
    return {
        "name": inst.name,
        "credit_code": inst.credit_code,
        "region_code": inst.region_code,
        "category": inst.category,
        "status": inst.status,
        "list": LIST[inst.status],
        "supervision_mode": inst.supervision_mode,
        "courses": [
            {
                "id": c.id,
                "title": c.title,
                "subject": c.subject,
                "grade_band": c.grade_band,
                "mode": c.mode,
                "class_size": c.class_size,
                "lesson_minutes": c.lesson_minutes,
                "lessons_total": c.lessons_total,
                "price_per_lesson": format_money(c.price_per_lesson),
            }
            for c in courses
        ],
    }
