"""Imports every table module so that `Base.metadata` is complete (for Alembic and tests), and
loads the reference data every migrated database carries."""

from datetime import datetime

from sqlalchemy.orm import Session

from service.fees.guides import seed_published
from service.fees.models import Course, CourseSession, PriceGuide, PriceGuideItem, SchoolVacation
from service.flows.counters import InstitutionDay
from service.flows.models import (
    Claim,
    Complaint,
    Consumption,
    Deposit,
    Enrollment,
    Instruction,
    ParentSession,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
    WindDown,
    WindDownPayment,
    WindDownRound,
)
from service.jobs.models import JobRun
from service.kit.request_keys import IdempotencyRecord
from service.national.models import (
    NationalAlert,
    NationalDistrict,
    NationalInstitution,
    NationalProvince,
    NationalWindDown,
)
from service.pages.models import PageSession
from service.policy import seeds
from service.policy.models import CreditListEntry, RulePackVersion
from service.proofs.models import (
    Checkpoint,
    LogEntry,
    LogNode,
    ProofParent,
    ProofSnapshot,
    WitnessState,
)
from service.registry.models import (
    Approval,
    AuditEvent,
    Bank,
    Institution,
    InstitutionChange,
    LoginThrottle,
    Officer,
    OfficerSession,
    Region,
    Regulator,
)
from service.registry.regions import sync_regions
from service.risk.models import Alert, DistrictDay, InstitutionRisk, RiskEvaluation


def load_reference(session: Session, *, now: datetime) -> dict[str, int]:
    """Region codes, the published guidance price tables and the seeded rule packs, after
    every migration.
    Idempotent."""
    return {
        "regions": sync_regions(session),
        "price_guides": seed_published(session, now=now),
        "rule_packs": seeds.seed(session, now=now),
    }


__all__ = [
    "Alert",
    "Approval",
    "AuditEvent",
    "Bank",
    "Checkpoint",
    "Claim",
    "Complaint",
    "Consumption",
    "Course",
    "CourseSession",
    "CreditListEntry",
    "Deposit",
    "DistrictDay",
    "Enrollment",
    "IdempotencyRecord",
    "Institution",
    "InstitutionChange",
    "InstitutionDay",
    "InstitutionRisk",
    "Instruction",
    "JobRun",
    "LogEntry",
    "LogNode",
    "LoginThrottle",
    "NationalAlert",
    "NationalDistrict",
    "NationalInstitution",
    "NationalProvince",
    "NationalWindDown",
    "Officer",
    "OfficerSession",
    "PageSession",
    "ParentSession",
    "PriceGuide",
    "PriceGuideItem",
    "ProofParent",
    "ProofSnapshot",
    "Refund",
    "RefundEvent",
    "Region",
    "Regulator",
    "RiskEvaluation",
    "RulePackVersion",
    "SchoolVacation",
    "Statement",
    "StatementBreak",
    "WindDown",
    "WindDownPayment",
    "WindDownRound",
    "WitnessState",
    "load_reference",
]
