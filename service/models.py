"""Imports every table module so that `Base.metadata` is complete (for Alembic and tests)."""

from service.fees.models import Course, CourseSession, PriceGuide, PriceGuideItem, SchoolVacation
from service.idempotency_models import IdempotencyRecord
from service.jobs_models import JobRun
from service.registry.models import (
    AuditEvent,
    Bank,
    Institution,
    InstitutionChange,
    Region,
    RegionSetting,
    Regulator,
)
from service.risk.models import Alert, RiskEvaluation

__all__ = [
    "Alert",
    "AuditEvent",
    "Bank",
    "Course",
    "CourseSession",
    "IdempotencyRecord",
    "Institution",
    "InstitutionChange",
    "JobRun",
    "PriceGuide",
    "PriceGuideItem",
    "Region",
    "RegionSetting",
    "Regulator",
    "RiskEvaluation",
    "SchoolVacation",
]
