"""Imports every table module so that `Base.metadata` is complete (for Alembic and tests)."""

from service.fees.models import Course, CourseSession, PriceGuide, PriceGuideItem, SchoolVacation
from service.flows.models import (
    Complaint,
    Consumption,
    Deposit,
    Enrollment,
    Instruction,
    LoginThrottle,
    ParentSession,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
)
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
from service.risk.rollups import InstitutionDay

__all__ = [
    "Alert",
    "AuditEvent",
    "Bank",
    "Complaint",
    "Consumption",
    "Course",
    "CourseSession",
    "Deposit",
    "Enrollment",
    "IdempotencyRecord",
    "Institution",
    "InstitutionChange",
    "InstitutionDay",
    "Instruction",
    "JobRun",
    "LoginThrottle",
    "ParentSession",
    "PriceGuide",
    "PriceGuideItem",
    "Refund",
    "RefundEvent",
    "Region",
    "RegionSetting",
    "Regulator",
    "RiskEvaluation",
    "SchoolVacation",
    "Statement",
    "StatementBreak",
]
