"""What the workbench's pages show, read for a regulator's region exactly as the API scopes it
(`registry.institutions.scoped_ids`): the overview, the sortable institution list, one
institution's file, the queues. Reads only; every action goes through the domain's use cases.
Each is a few set-based queries whatever the region's size (the benchmark in
bench/workbench.py holds them to it at 10,000 institutions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from ledger.types import Money
from service.fees.models import Course
from service.flows import refunds, statements
from service.flows.balances import InstitutionBalances, institution_balances
from service.flows.counters import InstitutionDay
from service.flows.models import (
    Complaint,
    Consumption,
    Deposit,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
)
from service.flows.positions import Position, by_district, coverage, per_institution
from service.jobs.catalog import JOBS, next_run
from service.jobs.models import JobRun
from service.kit.clock import local_date
from service.registry.institutions import acting_officer, scoped_ids
from service.registry.models import AuditEvent, Institution, InstitutionChange, Regulator
from service.registry.regions import known_regions
from service.risk import alerts
from service.risk.models import Alert, DistrictDay, InstitutionRisk, RiskEvaluation

LEVELS = ("critical", "high", "medium", "low")


def level_rank(column: Any) -> Any:
    """critical 4, high 3, medium 2, low 1, none 0: for sorting by severity."""
    return case(*((column == lvl, n) for n, lvl in enumerate(LEVELS[::-1], start=1)), else_=0)


def region_name(code: str) -> str:
    info = known_regions().get(code)
    return info.name if info else code


# The overview


@dataclass
class Overview:
    region_code: str
    region: str
    levels: dict[str | None, int]  # by level; None: not yet evaluated
    money: Position
    districts: list[tuple[str, str, Position, dict[str, int]]]  # code, name, money, levels
    trend: list[DistrictDay]  # summed over the region, per day, oldest first
    unreviewed_breaks: int  # of every day, in statements no regulator has reviewed
    overdue_refunds: int
    disputed_refunds: int
    disputed_lessons: int
    open_cases: int
    jobs: list[JobLine]
    short_institutions: int = 0  # whose bank's last statement holds less than the ledger
    breaks: list[BreakItem] = field(default_factory=list)  # the largest unreviewed ones


@dataclass(frozen=True)
class BreakItem:
    """One unreviewed statement break: whose, which bank day, what kind, how much."""

    institution_id: str
    institution: str
    statement_id: str
    statement_date: str
    kind: str
    direction: str | None
    amount: Decimal


def overview(session: Session, *, regulator: Regulator, now: datetime) -> Overview:
    scope = scoped_ids(regulator)
    levels: dict[str | None, int] = {}
    per_district: dict[str, dict[str, int]] = {}
    for code, level, n in session.execute(
        select(Institution.region_code, InstitutionRisk.level, func.count())
        .select_from(Institution)
        .outerjoin(InstitutionRisk, InstitutionRisk.institution_id == Institution.id)
        .where(Institution.id.in_(scope))
        .group_by(Institution.region_code, InstitutionRisk.level)
    ):
        levels[level] = levels.get(level, 0) + int(n)
        per_district.setdefault(code, {})[level or "none"] = int(n)
    money = by_district(session, scope)
    total = sum(money.values(), Position())
    districts = [
        (code, region_name(code), money.get(code, Position()), per_district.get(code, {}))
        for code in sorted(per_district)
    ]
    return Overview(
        region_code=regulator.region_code,
        region=region_name(regulator.region_code),
        levels=levels,
        money=total,
        districts=districts,
        trend=_trend(session, regulator, local_date(now)),
        **_queues(session, regulator, scope, now),
        jobs=_job_lines(session, now),
        short_institutions=_short(session, scope),
        breaks=unreviewed_breaks(session, scope, limit=OVERVIEW_BREAKS),
    )


OVERVIEW_BREAKS = 10  # the overview names the largest; the reconciliation page lists them all


def unreviewed_breaks(
    session: Session, scope: Select[tuple[str]], *, limit: int | None = None
) -> list[BreakItem]:
    """The unreviewed breaks of the institutions `scope` selects, the largest first."""
    amount = statements.break_amount()
    stmt = (
        select(Institution.id, Institution.name, Statement.id, Statement.statement_date,
               StatementBreak.kind, StatementBreak.direction, amount)
        .join(Statement, Statement.id == StatementBreak.statement_id)
        .join(Institution, Institution.id == Statement.institution_id)
        .where(Statement.institution_id.in_(scope), statements.needs_review())
        .order_by(amount.desc(), Statement.statement_date.desc(), StatementBreak.id)
    )  # fmt: skip
    if limit is not None:
        stmt = stmt.limit(limit)
    return [BreakItem(*row) for row in session.execute(stmt)]


def _short(session: Session, scope: Select[tuple[str]]) -> int:
    """How many institutions' banks last reported less than the ledger's escrow."""
    pos = per_institution()
    return int(
        session.scalar(
            select(func.count())
            .select_from(pos)
            .where(pos.c.institution_id.in_(scope), pos.c.bank_balance < pos.c.escrow)
        )
        or 0
    )


def _trend(session: Session, regulator: Regulator, today: date) -> list[DistrictDay]:
    from service.registry.regions import scope_prefix

    m = Money()
    rows = session.execute(
        select(
            DistrictDay.day,
            func.sum(DistrictDay.low),
            func.sum(DistrictDay.medium),
            func.sum(DistrictDay.high),
            func.sum(DistrictDay.critical),
            func.sum(DistrictDay.escrow, type_=m),
            func.sum(DistrictDay.bank_balance, type_=m),
            func.sum(DistrictDay.owed, type_=m),
        )
        .where(
            DistrictDay.region_code.startswith(scope_prefix(regulator.region_code)),
            DistrictDay.day > today - timedelta(days=90),
        )
        .group_by(DistrictDay.day)
        .order_by(DistrictDay.day)
    )
    return [
        DistrictDay(
            region_code=regulator.region_code,
            day=d,
            low=lo,
            medium=me,
            high=hi,
            critical=cr,
            escrow=es,
            bank_balance=bb,
            owed=ow,
        )
        for d, lo, me, hi, cr, es, bb, ow in rows
    ]


def _queues(
    session: Session, regulator: Regulator, scope: Select[tuple[str]], now: datetime
) -> dict[str, int]:
    def count(stmt: Select[Any]) -> int:
        return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

    return {
        "unreviewed_breaks": count(
            select(StatementBreak.id)
            .join(Statement, Statement.id == StatementBreak.statement_id)
            .where(Statement.institution_id.in_(scope), statements.needs_review())
        ),
        "overdue_refunds": count(
            select(Refund.id).where(Refund.institution_id.in_(scope), refunds.overdue(now))
        ),
        "disputed_refunds": count(
            select(Refund.id).where(Refund.institution_id.in_(scope), Refund.status == "disputed")
        ),
        "disputed_lessons": count(
            select(Consumption.id).where(
                Consumption.institution_id.in_(scope), Consumption.status == "disputed"
            )
        ),
        "open_cases": count(alerts.queue(regulator, now=now, status="unresolved")),
    }


@dataclass(frozen=True)
class JobLine:
    """A job of the catalogue: its last run (None before its first) and when it runs next."""

    name: str
    last: JobRun | None
    every_minutes: int | None  # a periodic job: within this many minutes
    next_at: datetime | None  # a daily job: its next run
    every_seconds: int | None = None  # a periodic job of less than a minute (national_rollups)


def _job_lines(session: Session, now: datetime) -> list[JobLine]:
    """Every job, run or not: a fresh region's table is not empty, it says when each runs."""
    latest = (
        select(JobRun.name, func.max(JobRun.started_at).label("at"))
        .group_by(JobRun.name)
        .subquery()
    )
    last = {
        r.name: r
        for r in session.scalars(
            select(JobRun).join(
                latest, and_(JobRun.name == latest.c.name, JobRun.started_at == latest.c.at)
            )
        )
    }
    return [_job_line(name, last.get(name), now) for name in sorted(JOBS)]


def _job_line(name: str, last: JobRun | None, now: datetime) -> JobLine:
    trigger = JOBS[name].trigger
    if trigger["trigger"] == "cron":
        return JobLine(name, last, every_minutes=None, next_at=next_run(trigger, now))
    if "minutes" not in trigger:
        return JobLine(name, last, every_minutes=None, next_at=None,
                       every_seconds=int(trigger["seconds"]))  # fmt: skip
    return JobLine(name, last, every_minutes=int(trigger["minutes"]), next_at=None)


# The institution list


@dataclass(frozen=True)
class Filters:
    level: str | None = None  # a level, or "none" (not yet evaluated)
    status: str | None = None
    district: str | None = None  # a region code inside the regulator's
    category: str | None = None
    mode: str | None = None
    q: str | None = None  # in the name, or the start of the credit code
    sort: str = "score"
    desc: bool = True


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    credit_code: str
    region_code: str
    status: str
    category: str
    mode: str
    level: str | None
    score: int | None
    evaluated_at: datetime | None
    escrow: Decimal
    owed: Decimal
    bank_balance: Decimal | None

    @property
    def coverage(self) -> Decimal | None:
        return coverage(self.bank_balance, self.escrow)


SORTS = ("level", "score", "escrow", "owed", "coverage", "evaluated", "name")


MONEY_SORTS = ("escrow", "owed", "coverage")


def institutions(
    session: Session, *, regulator: Regulator, filters: Filters, page: int, per_page: int
) -> tuple[list[Row], int]:
    """One page of the region's institutions, filtered and sorted; and how many match. Sorted
    by anything but money, the page's institutions are chosen first and only theirs are
    valued; sorted by money, every institution in scope is (one pass over their accounts)."""
    chosen = _filtered(_chosen(regulator), filters)
    total = int(session.scalar(select(func.count()).select_from(chosen.subquery())) or 0)
    offset = max(page - 1, 0) * per_page
    if filters.sort in MONEY_SORTS:
        # The sort key of every institution that matches (only the accounts it needs are
        # joined: the others' joins are removed by the planner), then the page's rows.
        pos = per_institution()
        keys = _keys(pos.c.escrow, pos.c.owed, pos.c.bank_balance)
        chosen = chosen.outerjoin(pos, pos.c.institution_id == Institution.id)
    else:
        keys = _keys(None, None)
    ids = list(
        session.scalars(chosen.order_by(*_order(filters, keys)).limit(per_page).offset(offset))
    )
    rows = session.execute(_listing(regulator, filters, only=ids))
    return [Row(*r) for r in rows], total


def all_institutions(session: Session, *, regulator: Regulator, filters: Filters) -> list[Row]:
    """Every institution that matches (the CSV export of the list)."""
    return [Row(*r) for r in session.execute(_listing(regulator, filters))]


def _chosen(regulator: Regulator) -> Select[Any]:
    """The ids of the region's institutions, with their current risk: what filters and the
    sorts that are not money need."""
    return (
        select(Institution.id)
        .select_from(Institution)
        .outerjoin(InstitutionRisk, InstitutionRisk.institution_id == Institution.id)
        .where(Institution.id.in_(scoped_ids(regulator)))
    )


def _keys(escrow: Any, owed: Any, bank: Any = None) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "level": level_rank(InstitutionRisk.level),
        "score": func.coalesce(InstitutionRisk.score, -1),
        "evaluated": InstitutionRisk.as_of,
        "name": Institution.name,
    }
    if escrow is not None:
        # An institution whose bank has not reported has no coverage (its row shows "—"):
        # a null key, listed first in the ascending sort the overview links to, not as 0%.
        keys.update(escrow=escrow, owed=owed, coverage=bank * 10000 / func.nullif(escrow, 0))
    return keys


def _order(f: Filters, keys: dict[str, Any]) -> list[Any]:
    key = keys.get(f.sort, keys["score"])
    return [key.desc().nulls_last() if f.desc else key.asc().nulls_first(), Institution.id]


def _listing(regulator: Regulator, f: Filters, *, only: list[str] | None = None) -> Select[Any]:
    pos = per_institution()
    # A chosen page: only its institutions' accounts are read.
    valued = [] if only is None else [pos.c.institution_id.in_(only)]
    bank = pos.c.bank_balance
    zero = literal(0, Money())
    escrow, owed = func.coalesce(pos.c.escrow, zero), func.coalesce(pos.c.owed, zero)
    stmt = (
        select(
            Institution.id,
            Institution.name,
            Institution.credit_code,
            Institution.region_code,
            Institution.status,
            Institution.category,
            Institution.supervision_mode,
            InstitutionRisk.level,
            InstitutionRisk.score,
            InstitutionRisk.as_of,
            escrow.label("escrow"),
            owed.label("owed"),
            bank,
        )
        .select_from(Institution)
        .outerjoin(InstitutionRisk, InstitutionRisk.institution_id == Institution.id)
        .outerjoin(pos, and_(pos.c.institution_id == Institution.id, *valued))
        .where(Institution.id.in_(scoped_ids(regulator)))
    )
    if only is not None:
        stmt = stmt.where(Institution.id.in_(only))
    else:
        stmt = _filtered(stmt, f)
    return stmt.order_by(*_order(f, _keys(escrow, owed, bank)))


def _filtered(stmt: Select[Any], f: Filters) -> Select[Any]:
    if f.level == "none":
        stmt = stmt.where(InstitutionRisk.level.is_(None))
    elif f.level:
        stmt = stmt.where(InstitutionRisk.level == f.level)
    if f.status:
        stmt = stmt.where(Institution.status == f.status)
    if f.district:
        from service.registry.regions import scope_prefix

        stmt = stmt.where(Institution.region_code.startswith(scope_prefix(f.district)))
    if f.category:
        stmt = stmt.where(Institution.category == f.category)
    if f.mode:
        stmt = stmt.where(Institution.supervision_mode == f.mode)
    if f.q:
        like = f"%{f.q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(
            or_(
                Institution.name.like(like),
                Institution.credit_code.startswith(f.q.upper()),
                *_in_places_named(f.q),
            )
        )
    return stmt


def _in_places_named(q: str) -> list[Any]:
    """A search for 东丰县 (or 东丰) finds the schools of that county whatever their names:
    conditions on the divisions whose names hold the text (a few at most; none for one
    character, which half the country's names hold)."""
    from service.registry.regions import scope_prefix

    if len(q) < 2:
        return []
    codes = [c for c, info in known_regions().items() if q in info.name]
    if not codes or len(codes) > 20:
        return []
    return [Institution.region_code.startswith(scope_prefix(c)) for c in codes]


# One institution's file


# Each list of the file shows so many of its newest entries a page; older ones on the next
# (`FilePages`: the page each list is at). The charts' windows are time spans, not lists.
FILE_LISTS = {"changes": 50, "alerts": 20, "refunds": 30, "lessons": 50, "suspense": 50,
              "statements": 90, "complaints": 50, "courses": 50, "audit": 50}  # fmt: skip
CHART_DAYS = 180


@dataclass
class File:
    institution: Institution
    balances: InstitutionBalances
    latest: RiskEvaluation | None
    history: list[RiskEvaluation]
    changes: list[InstitutionChange]
    alerts: list[Alert]
    refunds: list[tuple[Refund, list[RefundEvent]]]
    lessons: list[Consumption]  # disputed, or flagged off the timetable
    suspense: list[Deposit]
    statements: list[tuple[Statement, list[StatementBreak]]]
    complaints: list[Complaint]
    courses: list[Course]
    audit: list[AuditEvent]
    owed_by_day: list[tuple[date, Decimal]] = field(default_factory=list)
    pages: dict[str, int] = field(default_factory=dict)  # the page each list is at
    older: set[str] = field(default_factory=set)  # the lists with older entries than shown


class _Pager:
    """Reads one page of each of the file's lists (one row more than shown: are there
    older?)."""

    def __init__(self, session: Session, inst_id: str, pages: dict[str, int]) -> None:
        self.s, self.inst_id, self.pages, self.older = session, inst_id, pages, set[str]()

    def page(self, name: str, stmt: Select[Any]) -> list[Any]:
        n = FILE_LISTS[name]
        offset = (max(self.pages.get(name, 1), 1) - 1) * n
        rows = list(self.s.scalars(stmt.limit(n + 1).offset(offset)))
        if len(rows) > n:
            self.older.add(name)
        return rows[:n]

    def newest(self, name: str, model: Any, at: Any) -> list[Any]:
        return self.page(
            name,
            select(model).where(model.institution_id == self.inst_id).order_by(at.desc(), model.id),
        )


def institution_file(
    session: Session, inst: Institution, pages: dict[str, int] | None = None
) -> File:
    from service.risk.store import latest_evaluations

    conn = session.connection()
    p = _Pager(session, inst.id, pages or {})
    since = (
        session.scalar(select(func.max(RiskEvaluation.as_of)).where(
            RiskEvaluation.institution_id == inst.id))
    )  # fmt: skip
    history = (
        list(
            session.scalars(
                select(RiskEvaluation)
                .where(
                    RiskEvaluation.institution_id == inst.id,
                    RiskEvaluation.as_of > since - timedelta(days=CHART_DAYS),
                )
                .order_by(RiskEvaluation.as_of)
            )
        )
        if since is not None
        else []
    )
    found = File(
        institution=inst,
        balances=institution_balances(conn, inst.id),
        latest=latest_evaluations(session, [inst.id]).get(inst.id),
        history=history,
        changes=p.newest("changes", InstitutionChange, InstitutionChange.at),
        alerts=p.newest("alerts", Alert, Alert.opened_at),
        refunds=_with_events(session, p.newest("refunds", Refund, Refund.requested_at)),
        lessons=p.page(
            "lessons",
            select(Consumption)
            .where(
                Consumption.institution_id == inst.id,
                or_(Consumption.status == "disputed", Consumption.off_timetable.is_(True)),
            )
            .order_by(Consumption.reported_at.desc(), Consumption.id),
        ),
        suspense=p.page(
            "suspense",
            select(Deposit)
            .where(Deposit.institution_id == inst.id, Deposit.status == "suspense")
            .order_by(Deposit.received_at.desc(), Deposit.id),
        ),
        statements=_with_breaks(
            session,
            p.page(
                "statements",
                select(Statement)
                .where(Statement.institution_id == inst.id)
                .order_by(Statement.statement_date.desc(), Statement.received_at.desc()),
            ),
        ),
        complaints=p.newest("complaints", Complaint, Complaint.created_at),
        courses=p.newest("courses", Course, Course.filed_at),
        audit=p.page(
            "audit",
            select(AuditEvent)
            .where(AuditEvent.institution_id == inst.id)
            .order_by(AuditEvent.at.desc(), AuditEvent.id),
        ),
        owed_by_day=_owed_by_day(session, inst.id),
    )
    found.pages, found.older = {k: max(v, 1) for k, v in p.pages.items()}, p.older
    return found


def _with_events(session: Session, refunds: list[Refund]) -> list[tuple[Refund, list[RefundEvent]]]:
    events: dict[str, list[RefundEvent]] = {r.id: [] for r in refunds}
    if events:
        for e in session.scalars(
            select(RefundEvent)
            .where(RefundEvent.refund_id.in_(list(events)))
            .order_by(RefundEvent.seq)
        ):
            events[e.refund_id].append(e)
    return [(r, events[r.id]) for r in refunds]


def _with_breaks(
    session: Session, stmts: list[Statement]
) -> list[tuple[Statement, list[StatementBreak]]]:
    breaks: dict[str, list[StatementBreak]] = {s.id: [] for s in stmts}
    if breaks:
        for b in session.scalars(
            select(StatementBreak).where(StatementBreak.statement_id.in_(list(breaks)))
        ):
            breaks[b.statement_id].append(b)
    return [(s, breaks[s.id]) for s in stmts]


def _owed_by_day(session: Session, institution_id: str) -> list[tuple[date, Decimal]]:
    """What parents were owed at each day's end: the running sum of the day counters."""
    rows = session.execute(
        select(InstitutionDay.day, InstitutionDay.prepaid_delta)
        .where(InstitutionDay.institution_id == institution_id)
        .order_by(InstitutionDay.day)
    )
    running, out = Decimal("0.00"), []
    for day, delta in rows:
        running += delta
        out.append((day, running))
    return out[-CHART_DAYS:]


# Queues


def cases(
    session: Session,
    *,
    regulator: Regulator,
    status: str | None,
    level: str | None,
    mine: bool,
    q: str | None,
    now: datetime,
    page: int,
    per_page: int,
) -> tuple[list[tuple[Alert, Institution, str | None]], int]:
    """One page of the case queue (`alerts.queue`, the API's query; no status: every case not
    closed), the gravest first, then the oldest; each with its institution and the
    institution's level now. And how many cases match."""
    wanted = status or "unresolved"
    chosen = alerts.queue(
        regulator, now=now, status=wanted, level=level, mine=mine, institution=q,
        officer_id=acting_officer(session),
    ).subquery()  # fmt: skip
    total = int(session.scalar(select(func.count()).select_from(chosen)) or 0)
    picked = aliased(Alert, chosen)
    rows = session.execute(
        select(picked, Institution, InstitutionRisk.level)
        .join(Institution, Institution.id == picked.institution_id)
        .outerjoin(InstitutionRisk, InstitutionRisk.institution_id == Institution.id)
        .order_by(*alerts.queue_order(wanted, picked))
        .limit(per_page)
        .offset(max(page - 1, 0) * per_page)
    )
    return [(a, i, lvl) for a, i, lvl in rows], total


def case_file(
    session: Session, *, regulator: Regulator, alert_id: str
) -> tuple[Alert, Institution, list[AuditEvent], InstitutionRisk | None]:
    """One case of the region (another region's is not found), what was done on it, and the
    institution's level now (its latest sweep's, which may differ from the case's)."""
    from service.errors import DomainError
    from service.registry.institutions import in_regulator_scope

    alert = session.get(Alert, alert_id)
    if alert is None:
        raise DomainError("not_found", f"no case {alert_id}")
    inst = in_regulator_scope(session, regulator, alert.institution_id)
    history = session.scalars(
        select(AuditEvent).where(AuditEvent.subject == alert.id).order_by(AuditEvent.at)
    )
    return alert, inst, list(history), session.get(InstitutionRisk, inst.id)


@dataclass(frozen=True)
class Decision:
    """A refund or a disputed lesson waiting for a regulator, labelled for a person: whose
    course, which parent's enrollment (the student as the institution filed them)."""

    item: Any  # a Refund or a Consumption
    institution: Institution
    course: str
    student: str
    enrollment_id: str


DECISION_KINDS = ("refunds", "lessons")


def _decision_items(
    kind: str, scope: Select[tuple[str]], now: datetime, institution_id: str | None,
    district: str | None,
) -> tuple[Any, Select[Any]]:  # fmt: skip
    """The model and the query of one kind of decision: refunds disputed by the institution
    or overdue (`refunds.overdue`), or lessons disputed by the parent."""
    from service.flows.models import Enrollment
    from service.registry.regions import scope_prefix

    model: Any = Refund if kind == "refunds" else Consumption
    waiting = (
        or_(Refund.status == "disputed", refunds.overdue(now))
        if kind == "refunds"
        else Consumption.status == "disputed"
    )
    stmt = (
        select(model, Institution, Course.title, Enrollment.student_ref, Enrollment.id)
        .join(Institution, Institution.id == model.institution_id)
        .join(Enrollment, Enrollment.id == model.enrollment_id)
        .join(Course, Course.id == Enrollment.course_id)
        .where(model.institution_id.in_(scope), waiting)
    )
    if institution_id:
        stmt = stmt.where(Institution.id == institution_id)
    if district:
        stmt = stmt.where(Institution.region_code.startswith(scope_prefix(district)))
    return model, stmt


def decisions(
    session: Session, *, regulator: Regulator, now: datetime, kind: str,
    institution_id: str | None, district: str | None, page: int, per_page: int,
) -> tuple[list[Decision], int]:  # fmt: skip
    """One page of the refunds (or disputed lessons) waiting for a regulator's decision,
    grouped by institution (by name), the oldest first within each; and how many match."""
    model, stmt = _decision_items(kind, scoped_ids(regulator), now, institution_id, district)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    at = Refund.requested_at if kind == "refunds" else Consumption.occurred_at
    rows = session.execute(
        stmt.order_by(Institution.name, Institution.id, at, model.id)
        .limit(per_page)
        .offset(max(page - 1, 0) * per_page)
    )
    return [Decision(*row) for row in rows], total


def decision_counts(
    session: Session, *, regulator: Regulator, now: datetime, district: str | None
) -> tuple[dict[str, int], list[tuple[str, str, int, int]]]:
    """How many of each kind wait; and each institution with any (id, name, refunds,
    lessons), by name: the page's institution filter."""
    scope = scoped_ids(regulator)
    per: dict[str, list[Any]] = {}
    totals = {}
    for n, kind in enumerate(DECISION_KINDS):
        _model, stmt = _decision_items(kind, scope, now, None, district)
        sub = stmt.subquery()
        found = session.execute(
            select(sub.c.institution_id, func.count()).group_by(sub.c.institution_id)
        )
        totals[kind] = 0
        for inst_id, count in found:
            per.setdefault(inst_id, [None, 0, 0])[n + 1] = int(count)
            totals[kind] += int(count)
    names: dict[str, str] = {
        i: name
        for i, name in session.execute(
            select(Institution.id, Institution.name).where(Institution.id.in_(list(per)))
        )
    }
    listed = sorted(
        ((i, names.get(i, i), r, le) for i, (_n, r, le) in per.items()),
        key=lambda t: (t[1], t[0]),
    )
    return totals, listed


@dataclass(frozen=True)
class Reconciliation:
    institution: Institution
    statement: Statement | None
    breaks: int


def reconciliation(
    session: Session, *, regulator: Regulator, day: date, bank_id: str | None
) -> list[Reconciliation]:
    """Each escrow account of the region on a bank's day: its statement (or none), the
    ledger against the bank, how many items did not match."""
    insts = select(Institution).where(Institution.id.in_(scoped_ids(regulator)))
    if bank_id:
        insts = insts.where(Institution.bank_id == bank_id)
    found = list(session.scalars(insts.order_by(Institution.region_code, Institution.name)))
    stmts = {
        s.account_no: s
        for s in session.scalars(
            select(Statement)
            .where(
                Statement.statement_date == day.isoformat(),
                Statement.institution_id.in_([i.id for i in found]),
            )
            .order_by(Statement.received_at)
        )
    }
    counts: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(StatementBreak.statement_id, func.count())
            .where(StatementBreak.statement_id.in_([s.id for s in stmts.values()]))
            .group_by(StatementBreak.statement_id)
        ).all()
    )
    out = []
    for inst in found:
        s = stmts.get(inst.escrow_account_no)
        out.append(Reconciliation(inst, s, int(counts.get(s.id, 0)) if s else 0))
    return out


@dataclass(frozen=True)
class Unreviewed:
    """One institution's statements with breaks nobody has reviewed, of every day (newest
    first), each with its breaks and their amounts."""

    institution: Institution
    statements: list[tuple[Statement, list[tuple[StatementBreak, Decimal]]]]


def unreviewed(
    session: Session, *, regulator: Regulator, bank_id: str | None, page: int, per_page: int
) -> tuple[list[Unreviewed], int]:
    """A page of the region's institutions with unreviewed breaks (by name), with all of
    theirs; and how many institutions have any."""
    stmts = select(Statement.institution_id).where(
        Statement.institution_id.in_(scoped_ids(regulator)), statements.needs_review()
    )
    if bank_id:
        stmts = stmts.where(Statement.bank_id == bank_id)
    chosen = select(Institution).where(Institution.id.in_(stmts))
    total = int(session.scalar(select(func.count()).select_from(chosen.subquery())) or 0)
    insts = list(
        session.scalars(
            chosen.order_by(Institution.name, Institution.id)
            .limit(per_page)
            .offset(max(page - 1, 0) * per_page)
        )
    )
    found: dict[str, list[Statement]] = {i.id: [] for i in insts}
    for st in session.scalars(
        select(Statement)
        .where(Statement.institution_id.in_(list(found)), statements.needs_review())
        .order_by(Statement.statement_date.desc(), Statement.received_at.desc())
    ):
        found[st.institution_id].append(st)
    breaks: dict[str, list[tuple[StatementBreak, Decimal]]] = {}
    ids = [st.id for sts in found.values() for st in sts]
    for b, amount in session.execute(
        select(StatementBreak, statements.break_amount())
        .where(StatementBreak.statement_id.in_(ids))
        .order_by(StatementBreak.id)
    ):
        breaks.setdefault(b.statement_id, []).append((b, amount))
    return [
        Unreviewed(i, [(st, breaks.get(st.id, [])) for st in found[i.id]]) for i in insts
    ], total
