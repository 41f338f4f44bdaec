"""What the service knew about each institution at `as_of`, gathered in a handful of set-based
queries (one per kind of fact, over all institutions in scope), each bounded by its window.

Only facts dated at or before `as_of` are read: a sweep at a past instant is a backtest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from service.fees.models import CourseSession
from service.flows.counters import InstitutionDay
from service.flows.models import (
    Complaint,
    Consumption,
    Deposit,
    Enrollment,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
)
from service.kit.clock import local_date
from service.registry.models import Institution, InstitutionChange

ZERO = Decimal("0.00")
LOOKBACK_DAYS = 120  # the longest window (90) plus the 14 before it, and a margin


@dataclass
class Day:
    deposits_amount: Decimal = ZERO
    deposits_count: int = 0
    enrollments_paid: int = 0
    enrollments_discounted: int = 0
    lessons_consumed: int = 0
    refund_requests: int = 0
    complaints: int = 0


@dataclass
class Facts:
    institution_id: str
    region_code: str
    supervision_mode: str
    created_at: datetime
    days: dict[date, Day] = field(default_factory=dict)
    failed_refunds: list[str] = field(default_factory=list)
    shortfall: list[str] = field(default_factory=list)
    overdue_refunds: list[str] = field(default_factory=list)
    active_enrollments: int = 0
    aged_suspense: list[str] = field(default_factory=list)
    off_platform_complaints: list[str] = field(default_factory=list)
    recent_complaints: list[str] = field(default_factory=list)
    pace_violations: list[str] = field(default_factory=list)
    sessions_scheduled_recent: int = 0
    oldest_recent_session: datetime | None = None
    last_statement_at: datetime | None = None
    ever_deposited: bool = False
    reserve: Decimal = ZERO
    prepaid_outstanding: Decimal = ZERO
    registry_changes: list[str] = field(default_factory=list)

    def total(self, attr: str, as_of: datetime, days: int, offset: int = 0) -> Any:
        """Sum of a daily counter over `days` days ending `offset` days before as_of's day."""
        end = local_date(as_of) - timedelta(days=offset)
        start = end - timedelta(days=days - 1)
        zero: Any = ZERO if attr == "deposits_amount" else 0
        return sum((getattr(d, attr) for k, d in self.days.items() if start <= k <= end), zero)


def gather(
    session: Session,
    *,
    as_of: datetime,
    institution_ids: list[str] | None = None,
    region_prefix: str | None = None,
) -> dict[str, Facts]:
    inst_q = select(Institution).where(Institution.created_at <= as_of)
    if region_prefix:
        inst_q = inst_q.where(Institution.region_code.startswith(region_prefix))
    if institution_ids is not None:
        inst_q = inst_q.where(Institution.id.in_(institution_ids))
    facts = {
        i.id: Facts(i.id, i.region_code, i.supervision_mode, i.created_at)
        for i in session.scalars(inst_q)
    }
    if not facts:
        return facts
    scope = inst_q.with_only_columns(Institution.id).scalar_subquery()

    def ids(rows: Any) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for inst_id, obj_id in rows:
            if inst_id in facts:
                out[inst_id].append(obj_id)
        return out

    day0 = local_date(as_of) - timedelta(days=LOOKBACK_DAYS)
    # Plain rows, not ORM objects: this is the largest read of a sweep (institutions × days).
    t = InstitutionDay.__table__.c
    for inst_id, day, *values in session.execute(
        select(
            t.institution_id,
            t.day,
            t.deposits_amount,
            t.deposits_count,
            t.enrollments_paid,
            t.enrollments_discounted,
            t.lessons_consumed,
            t.refund_requests,
            t.complaints,
        ).where(t.institution_id.in_(scope), t.day >= day0, t.day <= local_date(as_of))
    ):
        facts[inst_id].days[day] = Day(*values)
    w90 = as_of - timedelta(days=90)
    for k, v in ids(
        session.execute(
            select(Refund.institution_id, Refund.id)
            .join(RefundEvent, RefundEvent.refund_id == Refund.id)
            .where(
                Refund.institution_id.in_(scope),
                RefundEvent.status == "failed",
                RefundEvent.at > w90,
                RefundEvent.at <= as_of,
            )
        )
    ).items():
        facts[k].failed_refunds = k_unique(v)

    # Escrow shortfall: money left with no instruction, or the bank's balance below ours.
    for k, v in ids(
        session.execute(
            select(StatementBreak.institution_id, StatementBreak.id).where(
                StatementBreak.institution_id.in_(scope),
                StatementBreak.kind == "missing_in_ledger",
                StatementBreak.direction == "debit",
                StatementBreak.at > w90,
                StatementBreak.at <= as_of,
            )
        )
    ).items():
        facts[k].shortfall.extend(v)
    # Each institution's latest escrow statement (by bank day, then arrival), found through
    # the (account_no, statement_date) index: one short backward index scan per institution,
    # however long the history. Only the escrow account counts here, so a reserve account's
    # statement (reserve mode) can neither hide an escrow shortfall nor stand in for a missing
    # one.
    latest_id = (
        select(Statement.id)
        .where(
            Statement.account_no == Institution.escrow_account_no,
            Statement.received_at <= as_of,
            Statement.received_at > w90,
        )
        .order_by(Statement.statement_date.desc(), Statement.received_at.desc())
        .limit(1)
        .correlate(Institution)
        .scalar_subquery()
    )
    # Ids first, rows by primary key after: joined in one statement, the planner scans all
    # statements to hash them.
    statement_ids = [
        i for i in session.scalars(select(latest_id).where(Institution.id.in_(scope))) if i
    ]
    for start in range(0, len(statement_ids), 5000):  # bounded IN lists (SQLite's limit)
        chunk = statement_ids[start : start + 5000]
        for s in session.scalars(select(Statement).where(Statement.id.in_(chunk))):
            f = facts[s.institution_id]
            f.last_statement_at = s.received_at
            if s.closing_balance < s.ledger_balance:
                f.shortfall.append(s.id)

    for k, v in ids(
        session.execute(
            select(Refund.institution_id, Refund.id).where(
                Refund.institution_id.in_(scope),
                Refund.respond_by <= as_of,
                Refund.respond_by > w90,
                or_(Refund.answered_at.is_(None), Refund.answered_at > Refund.respond_by),
            )
        )
    ).items():
        facts[k].overdue_refunds = v

    for inst_id, n in session.execute(
        select(Enrollment.institution_id, func.count())
        .where(
            Enrollment.institution_id.in_(scope),
            Enrollment.paid_at <= as_of,
            Enrollment.paid_at > as_of - timedelta(days=120),
        )
        .group_by(Enrollment.institution_id)
    ):
        facts[inst_id].active_enrollments = int(n)
    for f in facts.values():  # an escrow account in use: cash came in within the lookback window
        f.ever_deposited = any(d.deposits_count for d in f.days.values())

    for k, v in ids(
        session.execute(
            select(Deposit.institution_id, Deposit.id).where(
                Deposit.institution_id.in_(scope),
                Deposit.reason.is_not(None),
                Deposit.reason != "institution_frozen",
                Deposit.received_at <= as_of - timedelta(days=7),
                Deposit.received_at > w90,
                or_(Deposit.resolved_at.is_(None), Deposit.resolved_at > as_of),
            )
        )
    ).items():
        facts[k].aged_suspense = v

    w30 = as_of - timedelta(days=30)
    w14 = as_of - timedelta(days=14)
    for inst_id, cid, cat, at in session.execute(
        select(
            Complaint.institution_id, Complaint.id, Complaint.category, Complaint.created_at
        ).where(
            Complaint.institution_id.in_(scope),
            Complaint.created_at > w30,
            Complaint.created_at <= as_of,
        )
    ):
        if cat == "asked_to_pay_off_platform":
            facts[inst_id].off_platform_complaints.append(cid)
        if at > w14:
            facts[inst_id].recent_complaints.append(cid)

    # Lessons reported faster than the timetable: more consumed than sessions started.
    recent = select(Consumption.enrollment_id).where(
        Consumption.institution_id.in_(scope),
        Consumption.reported_at > w30,
        Consumption.reported_at <= as_of,
    )
    started = (
        select(func.count())
        .where(
            CourseSession.course_id == Enrollment.course_id,
            CourseSession.seq >= Enrollment.first_session_seq,
            CourseSession.seq <= Enrollment.last_session_seq,
            CourseSession.starts_at <= as_of,
        )
        .correlate(Enrollment)
        .scalar_subquery()
    )
    consumed = func.sum(Consumption.lessons)
    for inst_id, enr_id, _, _ in session.execute(
        select(Enrollment.institution_id, Enrollment.id, consumed, started)
        .join(
            Consumption,
            and_(
                Consumption.enrollment_id == Enrollment.id,
                Consumption.reported_at <= as_of,
                Consumption.status != "reversed",
            ),
        )
        .where(Enrollment.id.in_(recent))
        .group_by(
            Enrollment.institution_id,
            Enrollment.id,
            Enrollment.course_id,
            Enrollment.first_session_seq,
            Enrollment.last_session_seq,
        )
        .having(consumed > started)
    ):
        facts[inst_id].pace_violations.append(enr_id)
    # Lessons claimed before the sessions they stand for had started, whenever reported.
    for k, v in ids(
        session.execute(
            select(Consumption.institution_id, Consumption.id).where(
                Consumption.institution_id.in_(scope),
                Consumption.off_timetable.is_(True),
                Consumption.status != "reversed",
                Consumption.reported_at > w30,
                Consumption.reported_at <= as_of,
            )
        )
    ).items():
        facts[k].pace_violations.extend(v)

    # Sessions bought and scheduled in the last 14 days (for a stall), excluding refunded ones.
    for inst_id, n, oldest in session.execute(
        select(Enrollment.institution_id, func.count(), func.min(CourseSession.starts_at))
        .join(
            CourseSession,
            and_(
                CourseSession.course_id == Enrollment.course_id,
                CourseSession.seq >= Enrollment.first_session_seq,
                CourseSession.seq <= Enrollment.last_session_seq - Enrollment.lessons_refunded,
            ),
        )
        .where(
            Enrollment.institution_id.in_(scope),
            Enrollment.paid_at <= as_of,
            CourseSession.starts_at > w14,
            CourseSession.starts_at <= as_of,
        )
        .group_by(Enrollment.institution_id)
    ):
        facts[inst_id].sessions_scheduled_recent = int(n)
        facts[inst_id].oldest_recent_session = _aware(oldest)

    for k, v in ids(
        session.execute(
            select(InstitutionChange.institution_id, InstitutionChange.id).where(
                InstitutionChange.institution_id.in_(scope),
                InstitutionChange.field.in_(("legal_person", "address")),
                InstitutionChange.at > w90,
                InstitutionChange.at <= as_of,
            )
        )
    ).items():
        facts[k].registry_changes = v

    _reserve_positions(session, facts, as_of)
    return facts


def _reserve_positions(session: Session, facts: dict[str, Facts], as_of: datetime) -> None:
    """Reserve-mode institutions only: the reserve against what parents are owed."""
    import ledger

    for f in facts.values():
        if f.supervision_mode != "reserve":
            continue
        kinds = ledger.owner_balances(session.connection(), ledger=f.institution_id, as_of=as_of)
        f.reserve = kinds.get("reserve", ledger.Balance()).credit_balance
        f.prepaid_outstanding = kinds.get("prepaid", ledger.Balance()).credit_balance


def k_unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _aware(value: Any) -> datetime | None:
    """MIN() over a UTC column comes back naive on SQLite."""
    from datetime import UTC

    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
