"""What the service knew about each institution at `as_of`: one named query per kind of fact,
each set-based over every institution in scope and bounded by the span the region's knobs
read (`Needs`). Facts carry dated evidence; each indicator keeps what falls in its own window.

Only facts dated at or before `as_of` are read: a sweep at a past instant is a backtest.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees import working_days
from service.fees.caps import EDUCATION_MONTHS
from service.fees.models import CourseSession
from service.flows import refunds
from service.flows.balances import institution_balances
from service.flows.counters import InstitutionDay
from service.flows.models import (
    Complaint,
    Consumption,
    Deposit,
    Enrollment,
    Instruction,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
    WindDown,
)
from service.flows.positions import valuations
from service.kit.clock import local_date, start_of_local_day
from service.policy import packs
from service.policy.knobs import PEER_REFUND_WINDOW_DAYS, RiskConfig
from service.policy.rules import BankWarnings
from service.proofs.models import ProofSnapshot
from service.registry.models import Institution, InstitutionChange

ZERO = Decimal("0.00")
ACTIVE_ENROLLMENT_DAYS = 120  # an enrollment paid this recently is active (refund velocity)
SUSPENSE_LOOKBACK_DAYS = 90  # unmatched cash older than this is a regulator's case already
# Longer than an education enrollment's span from its making to its last lesson
# (caps.EDUCATION_MONTHS: at most 92 days, by Beijing dates), with a margin for the instants
# around those dates.
PREPAID_SPAN_DAYS = 31 * EDUCATION_MONTHS + 7
Dated = tuple[str, datetime]  # a piece of evidence (its id) and when it happened
# A sum of a daily counter: (counter, days, offset), over `days` days ending `offset` days
# before the sweep's day.
Window = tuple[str, int, int]

NO_BANK_WARNINGS = BankWarnings()


@dataclass(kw_only=True)
class Day:
    deposits_amount: Decimal = ZERO
    deposits_count: int = 0
    enrollments_paid: int = 0
    lessons_consumed: int = 0
    refund_requests: int = 0
    complaints: int = 0


@dataclass(kw_only=True)
class Facts:
    institution_id: str
    region_code: str
    supervision_mode: str
    created_at: datetime
    category: str = "subject"
    closing_on: date | None = None  # an announced closure's day
    closure_announced_at: datetime | None = None
    # The daily counters, where read (see `daily_counters`); None: only `sums` are known.
    days: dict[date, Day] | None = field(default_factory=dict)
    sums: dict[Window, Any] = field(default_factory=dict)  # summed by the database
    summed_on: date | None = None  # the day the sums end at (the sweep's)
    failed_refunds: list[Dated] = field(default_factory=list)  # when the bank rejected it
    shortfall: list[Dated] = field(default_factory=list)  # money out unseen; bank below ledger
    overdue_refunds: list[Dated] = field(default_factory=list)  # by respond_by
    active_enrollments: int = 0
    suspense: list[Dated] = field(default_factory=list)  # unmatched cash, by when it came
    off_platform_complaints: list[Dated] = field(default_factory=list)
    # Complaints that teaching stopped (what a walkout's parents say; delivery_share).
    teaching_complaints: list[Dated] = field(default_factory=list)
    complaints: list[Dated] = field(default_factory=list)
    # Who filed each complaint: its enrollment (a parent), or, where none is known, itself.
    complainant: dict[str, str] = field(default_factory=dict)
    pace_violations: list[Dated] = field(default_factory=list)  # by when reported
    # Per stall window (days): sessions bought and scheduled in it, and the oldest of them.
    stall: dict[int, tuple[int, datetime | None]] = field(default_factory=dict)
    # Per (window days, price share): enrollments paid in the window below that share.
    discounted: dict[tuple[int, Decimal], int] = field(default_factory=dict)
    last_statement_at: datetime | None = None
    last_statement_date: date | None = None  # the bank day it covers
    # Per window (days): deposits in the same days a year before, where history reaches back.
    last_year: dict[int, Decimal] = field(default_factory=dict)
    # Per (window, ahead days): money paid in the window, and the part of it paying for
    # sessions more than `ahead days` after the payment.
    ahead: dict[tuple[int, int], tuple[Decimal, Decimal]] = field(default_factory=dict)
    lesson_disputes: list[tuple[str, datetime, int]] = field(
        default_factory=list
    )  # id, at, lessons
    refund_disputes: list[Dated] = field(default_factory=list)  # disputed by the institution
    refund_answers: list[Dated] = field(default_factory=list)  # answered by it (either way)
    # Refund requests (by when requested) answered late, or not by now past respond_by, or
    # disputed: the ones that make refund velocity more than a class refunded on time.
    unprompt_requests: list[Dated] = field(default_factory=list)
    legal_person_changes: list[Dated] = field(default_factory=list)
    ever_deposited: bool = False
    reserve: Decimal = ZERO
    prepaid_outstanding: Decimal = ZERO
    # Past an announced closure: what refunds the school contested, still awaiting the
    # regulator's decision at as_of, hold of what parents are owed (closure_default).
    contested_owed: Decimal = ZERO
    # The pack's `bank_warnings` where it sets any (Hangzhou), what left the supervised account
    # in the 7 Beijing days to as_of (instruction id, when, amount), and its balance then.
    bank_warnings: BankWarnings | None = None
    withdrawals: list[tuple[str, datetime, Decimal]] = field(default_factory=list)
    escrow_balance: Decimal | None = None
    # The share of what is owed the reserve must cover (the pack's `reserve_requirement`).
    reserve_share: Decimal = Decimal(1)
    registry_changes: list[Dated] = field(default_factory=list)
    # Its wind-down, if one was opened by as_of: (id, reason, effective instant). The event
    # itself: such an institution is judged by it alone (indicators.wind_down).
    wind_down: tuple[str, str, datetime] | None = None
    sponsor: str | None = None  # 举办者: the campuses of one chain share it
    bank_id: str | None = None  # the custody bank: a bank silent for many is one event
    # Answers to refund requests: the refund, when answered, the working days it took.
    answer_latency: list[tuple[str, datetime, int]] = field(default_factory=list)
    # Per window (days): enrollments paid in it, and the lessons they bought.
    packages: dict[int, tuple[int, int]] = field(default_factory=dict)
    # Per (window, lag): sessions bought, not refunded, scheduled in the window ending `lag`
    # days before as_of (what delivery is judged against).
    scheduled: dict[tuple[int, int], int] = field(default_factory=dict)
    # The score of its own signs, set by the evaluation before a chain's sibling is weighed.
    own_signs: int = 0

    def total(self, attr: str, as_of: datetime, days: int, offset: int = 0) -> Any:
        """Sum of a daily counter over `days` days ending `offset` days before as_of's day
        (the day of the sweep whose facts these are)."""
        summed = self.sums.get((attr, days, offset))
        if summed is not None and self.summed_on == _day_of(as_of):
            return summed
        if self.days is None:
            raise KeyError(f"{attr} over {days} days (offset {offset}) was not summed")
        end = _day_of(as_of) - timedelta(days=offset)
        start = end - timedelta(days=days - 1)
        zero: Any = ZERO if attr == "deposits_amount" else 0
        return sum((getattr(d, attr) for k, d in self.days.items() if start <= k <= end), zero)


@dataclass(frozen=True, kw_only=True)
class Needs:
    """What the knobs of the regions in scope read: how far back, and the windows and shares
    that a set-based query must count for."""

    lookback_days: int
    stall_windows: frozenset[int]
    discounts: frozenset[tuple[int, Decimal]]
    surges: frozenset[tuple[int, int]]  # (window, ahead days)
    closure_grace: int  # the shortest grace after a closure any region allows
    sums: frozenset[Window] = frozenset()  # the counters' sums the indicators read
    # An institution younger than this (in whole days) has its surge judged against as much
    # of the baseline as its history holds, a window of its own: its daily rows are read.
    short_history_days: int = 0
    packages: frozenset[int] = frozenset()  # windows of the young school's packages
    deliveries: frozenset[tuple[int, int]] = frozenset()  # (window, lag) of delivery

    @classmethod
    def of(cls, configs: Iterable[RiskConfig]) -> Needs:
        cfgs = list(configs) or [RiskConfig()]
        return cls(
            sums=frozenset(w for c in cfgs for w in c.counter_windows()),
            short_history_days=max(
                c.prepay_surge.window_days + c.prepay_surge.baseline_days for c in cfgs
            ),
            lookback_days=max(c.lookback_days() for c in cfgs),
            # Delivery's own window unlagged is a stall window (the same count, no query more
            # where both are 14 days).
            stall_windows=frozenset(
                w
                for c in cfgs
                for w in (c.consumption_stall.window_days, c.delivery_share.window_days)
            ),
            discounts=frozenset(
                (c.deep_discount.window_days, c.deep_discount.price_share) for c in cfgs
            ),
            surges=frozenset((c.prepay_surge.window_days, c.prepay_surge.ahead_days) for c in cfgs),
            closure_grace=min(c.closure_default.grace_days for c in cfgs),
            packages=frozenset(c.young_school.window_days for c in cfgs),
            deliveries=frozenset(
                (c.delivery_share.window_days, c.delivery_share.lag_days) for c in cfgs
            ),
        )


# The facts `indicators.statement_overdue` reads (whether cash came in lately, the latest
# statement): all the midday `statement_missing` job gathers, not a whole sweep's.
SILENCE_FACTS = frozenset({"daily_counters", "latest_statements"})


def gather(
    session: Session,
    *,
    as_of: datetime,
    needs: Needs,
    institution_ids: list[str] | None = None,
    region_prefix: str | None = None,
    only: frozenset[str] | None = None,
) -> dict[str, Facts]:
    """Each institution's facts at `as_of`, one set-based query per kind (`only` those kinds,
    by their names in `_Queries`, when given: the others keep their empty defaults)."""
    shape = _Shape(ids=institution_ids is not None, prefix=bool(region_prefix))
    params = {"as_of": as_of, "ids": institution_ids or [], "prefix": region_prefix or ""}
    # The columns the facts keep, not the rows as objects: 10,000 of them in a whole sweep,
    # each tracked by the session until it ends. (Through the session: what it holds unwritten
    # is flushed first, as for any read; the facts' own reads go to its connection.)
    facts = {
        i.id: Facts(
            institution_id=i.id,
            region_code=i.region_code,
            supervision_mode=i.supervision_mode,
            created_at=i.created_at,
            category=i.category,
            sponsor=i.sponsor,
            bank_id=i.bank_id,
            closing_on=i.closing_on if _announced(i.closure_announced_at, as_of) else None,
            closure_announced_at=i.closure_announced_at
            if _announced(i.closure_announced_at, as_of)
            else None,
        )
        for i in session.execute(_institutions(shape), params)
    }
    if facts:
        q = _Queries(session, facts, as_of, needs, ids=institution_ids, prefix=region_prefix)
        for fact in q.ALL:
            if only is None or fact.__name__ in only:
                fact(q)
    return facts


# A fact's statement, built once for its shape and kept (`_Queries._run`): its instants and
# bounds are named parameters given at each run. Building the statement anew at every sweep
# and computing its cache key again cost more than the database's answer on a replay's small
# sweeps (a re-evaluation of one institution runs some thirty of them).
_STATEMENTS: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class _Shape:
    """Which institutions a gather reads: by id, by region prefix, or every one."""

    ids: bool
    prefix: bool


def _p(name: str, *, expanding: bool = False) -> Any:
    """A named parameter; compared with a column, it takes the column's type (as a literal
    value there did)."""
    return bindparam(name, expanding=expanding)


def _institutions(shape: _Shape) -> Any:
    """The institutions in scope made by as_of: the columns the facts keep."""
    return _built(("institutions", shape), lambda: _scoped(select(
        Institution.id, Institution.region_code, Institution.supervision_mode,
        Institution.created_at, Institution.category, Institution.sponsor, Institution.closing_on,
        Institution.closure_announced_at, Institution.bank_id,
    ), shape))  # fmt: skip


def _scoped(stmt: Select[Any], shape: _Shape) -> Select[Any]:
    stmt = stmt.where(Institution.created_at <= _p("as_of"))
    if shape.prefix:
        stmt = stmt.where(Institution.region_code.startswith(_p("prefix")))
    if shape.ids:
        stmt = stmt.where(Institution.id.in_(_p("ids", expanding=True)))
    return stmt


def _built(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    found = _STATEMENTS.get(key)
    if found is None:
        if len(_STATEMENTS) > 1000:  # knobs of many kinds over a process's life: bounded
            _STATEMENTS.clear()
        found = _STATEMENTS[key] = build()
    return found


class _Queries:
    """The facts of a sweep, one method (one set-based query) each."""

    def __init__(
        self,
        session: Session,
        facts: dict[str, Facts],
        as_of: datetime,
        needs: Needs,
        *,
        ids: list[str] | None = None,
        prefix: str | None = None,
    ) -> None:
        self.s, self.facts, self.as_of, self.needs = session, facts, as_of, needs
        self.shape = _Shape(ids=ids is not None, prefix=bool(prefix))
        self.scope = _built(
            ("scope", self.shape), lambda: _scoped(select(Institution.id), self.shape)
        ).scalar_subquery()
        self.since = as_of - timedelta(days=needs.lookback_days)
        self.dialect = session.get_bind().dialect.name
        self.params: dict[str, Any] = {
            "as_of": as_of, "since": self.since, "ids": ids or [], "prefix": prefix or "",
        }  # fmt: skip

    def _run(self, key: tuple[Any, ...], build: Callable[[], Any], **params: Any) -> Any:
        """The rows of the statement `build` makes (kept by `key`, this scope's shape and the
        dialect), run with the sweep's parameters and `params`, as plain rows."""
        stmt = _built((*key, self.shape, self.dialect), build)
        return self.s.connection().execute(stmt, {**self.params, **params})

    def _dated(self, attr: str, rows: Iterable[Any]) -> None:
        for inst_id, obj_id, at in rows:
            if inst_id in self.facts:
                getattr(self.facts[inst_id], attr).append((obj_id, _aware(at)))

    def daily_counters(self) -> None:
        """The daily rollups (flows/counters.py) over the lookback, as the sums the knobs
        name: one row per institution whatever the lookback. An institution younger than
        the longest baseline has its few daily rows read as well (its own shortened one)."""
        t = InstitutionDay.__table__.c
        first, last = local_date(self.since), local_date(self.as_of)
        windows = sorted(self.needs.sums)
        zero = {w: ZERO if w[0] == "deposits_amount" else 0 for w in windows}
        for f in self.facts.values():
            f.sums, f.summed_on = dict(zero), last
            f.days = None
        bounds: dict[str, Any] = {"first_day": first, "last_day": last}
        for n, (_attr, days, offset) in enumerate(windows):
            end = last - timedelta(days=offset)
            bounds[f"w{n}_start"], bounds[f"w{n}_end"] = end - timedelta(days=days - 1), end

        def build() -> Any:
            columns = [self._summed(t, w, n) for n, w in enumerate(windows)]
            deposited = func.sum(case((t.deposits_count != 0, 1), else_=0))
            return (
                select(t.institution_id, deposited, *columns)
                .where(t.institution_id.in_(self.scope), t.day >= _p("first_day"),
                       t.day <= _p("last_day"))
                .group_by(t.institution_id)
            )  # fmt: skip

        for inst_id, seen, *sums in self._run(("daily_counters", tuple(windows)), build, **bounds):
            f = self.facts[inst_id]
            f.ever_deposited = bool(seen)  # the escrow account is in use: cash came in lately
            for w, v in zip(windows, sums, strict=True):
                f.sums[w] = zero[w] if v is None else v
        self._young_days(t, first, last)

    @staticmethod
    def _summed(t: Any, window: Window, n: int) -> ColumnElement[Any]:
        # A filtered sum, not a sum of CASE: the database skips the rows outside the window
        # instead of adding a zero for each (ten windows over every institution's 105 days).
        # None where no row falls in it: read as zero, as a sum of zeros was. The window's
        # days are the parameters w{n}_start and w{n}_end.
        return func.sum(t[window[0]]).filter(t.day >= _p(f"w{n}_start"), t.day <= _p(f"w{n}_end"))

    def _young_days(self, t: Any, first: date, last: date) -> None:
        young = self.as_of - timedelta(days=self.needs.short_history_days)
        ids = [i for i, f in self.facts.items() if f.created_at > young]
        for f in (self.facts[i] for i in ids):
            f.days = {}

        def build() -> Any:
            return (
                select(t.institution_id, t.day, t.deposits_amount, t.deposits_count,
                       t.enrollments_paid, t.lessons_consumed, t.refund_requests, t.complaints)
                .where(t.institution_id.in_(_p("young", expanding=True)),
                       t.day >= _p("first_day"), t.day <= _p("last_day"))
            )  # fmt: skip

        for start in range(0, len(ids), 5000):  # bounded IN lists (SQLite's limit)
            chunk = ids[start : start + 5000]
            for inst_id, day, amount, count, paid, consumed, asked, complained in self._run(
                ("young_days",), build, young=chunk, first_day=first, last_day=last
            ):
                days = self.facts[inst_id].days
                assert days is not None
                days[day] = Day(deposits_amount=amount, deposits_count=count,
                                enrollments_paid=paid, lessons_consumed=consumed,
                                refund_requests=asked, complaints=complained)  # fmt: skip

    def failed_refunds(self) -> None:
        self._dated("failed_refunds", self._run(("failed_refunds",), lambda: (
            select(Refund.institution_id, Refund.id, RefundEvent.at)
            .join(RefundEvent, RefundEvent.refund_id == Refund.id)
            .where(Refund.institution_id.in_(self.scope), RefundEvent.status == "failed",
                   RefundEvent.at > _p("since"), RefundEvent.at <= _p("as_of"))
        )))  # fmt: skip

    def unexplained_debits(self) -> None:
        """Money that left escrow with no instruction behind it (a statement's break)."""
        self._dated("shortfall", self._run(("unexplained_debits",), lambda: (
            select(StatementBreak.institution_id, StatementBreak.id, StatementBreak.at)
            .where(StatementBreak.institution_id.in_(self.scope),
                   StatementBreak.kind == "missing_in_ledger", StatementBreak.direction == "debit",
                   StatementBreak.at > _p("since"), StatementBreak.at <= _p("as_of"))
        )))  # fmt: skip

    def uncovered_liabilities(self) -> None:
        """Days whose published liabilities the custody bank's closing balance did not cover
        (attested coverage under 100%, docs/proofs.md): the bank holds less than is owed to
        parents alone. Dated when published; the snapshot's id is the evidence."""
        self._dated("shortfall", self._run(("uncovered_liabilities",), lambda: (
            select(ProofSnapshot.institution_id, ProofSnapshot.id, ProofSnapshot.created_at)
            .where(ProofSnapshot.institution_id.in_(self.scope),
                   ProofSnapshot.attested_balance < ProofSnapshot.total,
                   ProofSnapshot.created_at > _p("since"),
                   ProofSnapshot.created_at <= _p("as_of"))
        )))  # fmt: skip

    def latest_statements(self) -> None:
        """Each institution's latest escrow statement (by bank day, then arrival), found
        through the (account_no, statement_date) index, one short backward scan each; ids
        first, rows by primary key after (joined, the planner hashes all statements). Only
        the escrow account counts: a reserve account's statement can neither hide an escrow
        shortfall nor stand in for a missing one."""

        def latest() -> Any:
            latest_id = (
                select(Statement.id)
                .where(Statement.account_no == Institution.escrow_account_no,
                       Statement.received_at <= _p("as_of"), Statement.received_at > _p("since"))
                .order_by(Statement.statement_date.desc(), Statement.received_at.desc())
                .limit(1)
                .correlate(Institution)
                .scalar_subquery()
            )  # fmt: skip
            return select(latest_id).where(Institution.id.in_(self.scope))

        ids = [i for (i,) in self._run(("latest_statements",), latest) if i]
        for start in range(0, len(ids), 5000):  # bounded IN lists (SQLite's limit)
            chunk = ids[start : start + 5000]
            for st in self._run(("statement_rows",), lambda: (  # the columns read
                select(Statement.id, Statement.institution_id, Statement.received_at,
                       Statement.statement_date, Statement.closing_balance,
                       Statement.ledger_balance)
                .where(Statement.id.in_(_p("chunk", expanding=True)))
            ), chunk=chunk):  # fmt: skip
                f = self.facts[st.institution_id]
                f.last_statement_at = st.received_at
                f.last_statement_date = date.fromisoformat(st.statement_date)
                if st.closing_balance < st.ledger_balance:
                    f.shortfall.append((st.id, st.received_at))

    def overdue_refunds(self) -> None:
        """Refunds not answered by `respond_by`, and refunds consented to but not paid by the
        bank by `pay_by` (the pack's `refund_payment_deadline`): each dated by its deadline."""
        self._dated("overdue_refunds", self._run(("overdue_answers",), lambda: (
            select(Refund.institution_id, Refund.id, Refund.respond_by)
            .where(Refund.institution_id.in_(self.scope), Refund.respond_by > _p("since"),
                   refunds.missed_deadline(_p("as_of")))
        )))  # fmt: skip
        self._dated("overdue_refunds", self._run(("overdue_payments",), lambda: (
            select(Refund.institution_id, Refund.id, Refund.pay_by)
            .where(Refund.institution_id.in_(self.scope), Refund.pay_by > _p("since"),
                   refunds.payment_overdue(_p("as_of")))
        )))  # fmt: skip

    def active_enrollments(self) -> None:
        since = self.as_of - timedelta(days=ACTIVE_ENROLLMENT_DAYS)
        for inst_id, n in self._run(("active_enrollments",), lambda: (
            select(Enrollment.institution_id, func.count())
            .where(Enrollment.institution_id.in_(self.scope), Enrollment.paid_at <= _p("as_of"),
                   Enrollment.paid_at > _p("active_since"))
            .group_by(Enrollment.institution_id)
        ), active_since=since):  # fmt: skip
            self.facts[inst_id].active_enrollments = int(n)

    def unmatched_cash(self) -> None:
        """Cash held in suspense and still unresolved at as_of (a frozen institution's is
        held for the freeze, not unmatched)."""
        since = self.as_of - timedelta(days=SUSPENSE_LOOKBACK_DAYS)
        self._dated("suspense", self._run(("unmatched_cash",), lambda: (
            select(Deposit.institution_id, Deposit.id, Deposit.received_at)
            .where(Deposit.institution_id.in_(self.scope), Deposit.reason.is_not(None),
                   Deposit.reason != "institution_frozen", Deposit.received_at <= _p("as_of"),
                   Deposit.received_at > _p("suspense_since"),
                   or_(Deposit.resolved_at.is_(None), Deposit.resolved_at > _p("as_of")))
        ), suspense_since=since))  # fmt: skip

    def complaints(self) -> None:
        """Complaints over the lookback, each with who filed it: the signals count parents,
        not rows (one parent's flood is one voice)."""
        for inst_id, cid, cat, at, enrollment_id in self._run(("complaints",), lambda: (
            select(Complaint.institution_id, Complaint.id, Complaint.category,
                   Complaint.created_at, Complaint.enrollment_id)
            .where(Complaint.institution_id.in_(self.scope), Complaint.created_at > _p("since"),
                   Complaint.created_at <= _p("as_of"))
        )):  # fmt: skip
            f = self.facts[inst_id]
            f.complaints.append((cid, _aware(at)))
            f.complainant[cid] = enrollment_id or cid
            if cat == "asked_to_pay_off_platform":
                f.off_platform_complaints.append((cid, _aware(at)))
            elif cat == "teaching_stopped":
                f.teaching_complaints.append((cid, _aware(at)))

    def lessons_claimed_early(self) -> None:
        """Lessons reported ahead of the timetable: more consumed, with the report, than the
        sessions bought had started by the instant claimed (flagged `off_timetable` when
        reported). An enrollment ahead of its sessions at as_of was flagged by its latest
        report, so this one read finds it, without counting sessions per enrollment."""
        self._dated("pace_violations", self._run(("lessons_claimed_early",), lambda: (
            select(Consumption.institution_id, Consumption.id, Consumption.reported_at)
            .where(Consumption.institution_id.in_(self.scope),
                   Consumption.off_timetable.is_(True), Consumption.status != "reversed",
                   Consumption.reported_at > _p("since"), Consumption.reported_at <= _p("as_of"))
        )))  # fmt: skip

    def scheduled_sessions(self) -> None:
        """Per stall window: sessions bought, not refunded, scheduled in it (and the oldest);
        per delivery (window, lag): those scheduled in the window ending `lag` days before
        as_of. No enrollment buys a lesson more than three months after it is made (the
        prepayment cap), and none is paid before it is made, so only enrollments paid since
        three months before a window can have one in it: the read stays that long, not the
        whole history's. One join for every window, each counted with its own bounds
        (`_schedule_spans`): the delivery windows overlap the stall's."""
        spans = self._schedule_spans()
        for f in self.facts.values():  # none found: none scheduled (not "not read")
            for window in self.needs.stall_windows:
                f.stall[window] = (0, None)
        if not spans:  # no window asked for: nothing to count (min() of none below)
            return
        first = min(since for _key, (since, _until) in spans)
        bounds: dict[str, Any] = {
            "first": first, "first_paid": first - timedelta(days=PREPAID_SPAN_DAYS)
        }  # fmt: skip
        for n, (_key, (since, until)) in enumerate(spans):
            bounds[f"s{n}_since"], bounds[f"s{n}_until"] = since, until
            bounds[f"s{n}_paid"] = since - timedelta(days=PREPAID_SPAN_DAYS)
        keys = tuple(key for key, _span in spans)
        for inst_id, *counts in self._run(
            ("scheduled_sessions", keys), lambda: self._scheduled_stmt(keys), **bounds
        ):
            self._scheduled(self.facts[inst_id], spans, counts)

    def _scheduled_stmt(self, keys: tuple[int | tuple[int, int], ...]) -> Any:
        """The join of `scheduled_sessions`, each span's bounds the parameters s{n}_since,
        s{n}_until and s{n}_paid (paid since three months before the span)."""
        columns: list[ColumnElement[Any]] = []
        for n, key in enumerate(keys):
            since, until, paid = _p(f"s{n}_since"), _p(f"s{n}_until"), _p(f"s{n}_paid")
            inside = and_(CourseSession.starts_at > since, CourseSession.starts_at <= until,
                          Enrollment.paid_at > paid, Enrollment.paid_at <= until)  # fmt: skip
            columns.append(func.count().filter(inside))
            if isinstance(key, int):  # a stall window: its oldest session too
                columns.append(func.min(CourseSession.starts_at).filter(inside))
        return (
            select(Enrollment.institution_id, *columns)
            .join(CourseSession, and_(
                CourseSession.course_id == Enrollment.course_id,
                CourseSession.seq >= Enrollment.first_session_seq,
                CourseSession.seq <= Enrollment.last_session_seq - Enrollment.lessons_refunded))
            .where(Enrollment.institution_id.in_(self.scope), Enrollment.paid_at <= _p("as_of"),
                   Enrollment.paid_at > _p("first_paid"),
                   CourseSession.starts_at > _p("first"), CourseSession.starts_at <= _p("as_of"))
            .group_by(Enrollment.institution_id)
        )  # fmt: skip

    def _schedule_spans(self) -> list[tuple[int | tuple[int, int], tuple[datetime, datetime]]]:
        """Each stall window (by its days) and each delivery (window, lag), with the span of
        session starts it counts: (since, until]."""
        out: list[tuple[int | tuple[int, int], tuple[datetime, datetime]]] = [
            (w, (self.as_of - timedelta(days=w), self.as_of))
            for w in sorted(self.needs.stall_windows)
        ]
        for window, lag in sorted(self.needs.deliveries):
            until = self.as_of - timedelta(days=lag)
            out.append(((window, lag), (until - timedelta(days=window), until)))
        return out

    @staticmethod
    def _scheduled(
        f: Facts, spans: list[tuple[int | tuple[int, int], Any]], counts: list[Any]
    ) -> None:
        values = iter(counts)
        for key, _span in spans:
            n = int(next(values))
            if isinstance(key, int):
                oldest = next(values)
                if n:
                    f.stall[key] = (n, _aware(oldest))
            elif n:  # none scheduled: no entry (read as 0)
                f.scheduled[key] = n

    def discounted_enrollments(self) -> None:
        """Per (window, price share): enrollments paid in the window below that share of the
        filed price."""
        for window, share in self.needs.discounts:
            since = self.as_of - timedelta(days=window)
            # As integer literals on both sides: a bound Decimal would take the money column's
            # type (integer fen on SQLite, where 0.7 became 70).
            per_10k = str(int((share * 10_000).to_integral_value()))

            def build(per_10k: str = per_10k) -> Any:
                paid_10k = Enrollment.amount_paid * literal_column("10000")
                below = func.sum(case(
                    (paid_10k < Enrollment.list_amount * literal_column(per_10k), 1), else_=0
                ))  # fmt: skip
                return (
                    select(Enrollment.institution_id, below)
                    .where(Enrollment.institution_id.in_(self.scope),
                           Enrollment.paid_at > _p("window_since"),
                           Enrollment.paid_at <= _p("as_of"))
                    .group_by(Enrollment.institution_id)
                )  # fmt: skip

            for inst_id, n in self._run(("discounted", per_10k), build, window_since=since):
                self.facts[inst_id].discounted[(window, share)] = int(n or 0)

    def packages(self) -> None:
        """Per window: enrollments paid in it and the lessons they bought (how long the
        packages a school sells are)."""
        for window in self.needs.packages:
            since = self.as_of - timedelta(days=window)
            for inst_id, n, bought in self._run(("packages",), lambda: (
                select(Enrollment.institution_id, func.count(),
                       func.sum(Enrollment.last_session_seq - Enrollment.first_session_seq + 1))
                .where(Enrollment.institution_id.in_(self.scope),
                       Enrollment.paid_at > _p("window_since"), Enrollment.paid_at <= _p("as_of"))
                .group_by(Enrollment.institution_id)
            ), window_since=since):  # fmt: skip
                self.facts[inst_id].packages[window] = (int(n), int(bought or 0))

    def registry_changes(self) -> None:
        for inst_id, c_id, field_, at in self._run(("registry_changes",), lambda: (
            select(InstitutionChange.institution_id, InstitutionChange.id,
                   InstitutionChange.field, InstitutionChange.at)
            .where(InstitutionChange.institution_id.in_(self.scope),
                   InstitutionChange.field.in_(("legal_person", "address")),
                   InstitutionChange.at > _p("since"), InstitutionChange.at <= _p("as_of"))
        )):  # fmt: skip
            f = self.facts[inst_id]
            f.registry_changes.append((c_id, _aware(at)))
            if field_ == "legal_person":
                f.legal_person_changes.append((c_id, _aware(at)))

    def lesson_disputes(self) -> None:
        """Lessons parents disputed, by when they disputed them."""
        for inst_id, c_id, at, lessons in self._run(("lesson_disputes",), lambda: (
            select(Consumption.institution_id, Consumption.id, Consumption.disputed_at,
                   Consumption.lessons)
            .where(Consumption.disputed_at > _p("since"), Consumption.disputed_at <= _p("as_of"),
                   Consumption.institution_id.in_(self.scope))
        )):  # fmt: skip
            self.facts[inst_id].lesson_disputes.append((c_id, _aware(at), int(lessons)))

    def refund_answers(self) -> None:
        """The institution's own answers to refund requests (accepted or disputed), by when:
        what the automatic acceptance of an overdue request does is not an answer."""
        for inst_id, r_id, status, at, asked in self._run(("refund_answers",), lambda: (
            select(Refund.institution_id, Refund.id, RefundEvent.status, RefundEvent.at,
                   Refund.requested_at)
            .join(RefundEvent, RefundEvent.refund_id == Refund.id)
            .where(Refund.institution_id.in_(self.scope),
                   RefundEvent.status.in_(("accepted", "disputed")),
                   RefundEvent.at > _p("since"), RefundEvent.at <= _p("as_of"),
                   or_(RefundEvent.status == "disputed", Refund.escalated.is_(False)))
        )):  # fmt: skip
            f = self.facts[inst_id]
            f.refund_answers.append((r_id, _aware(at)))
            f.answer_latency.append((r_id, _aware(at), _working_days(asked, at)))
            if status == "disputed":
                f.refund_disputes.append((r_id, _aware(at)))

    def unprompt_requests(self) -> None:
        """Refund requests not answered in time (late, or still unanswered past respond_by)
        or disputed, dated by when they were requested."""

        def build() -> Any:
            disputed = (
                select(RefundEvent.refund_id)
                .where(RefundEvent.status == "disputed", RefundEvent.at > _p("since"),
                       RefundEvent.at <= _p("as_of"))
            )  # fmt: skip
            # (Answered after as_of implies after respond_by: the deadline's own predicate.)
            late = or_(refunds.missed_deadline(_p("as_of")), Refund.id.in_(disputed))
            return (
                select(Refund.institution_id, Refund.id, Refund.requested_at)
                .where(Refund.institution_id.in_(self.scope), Refund.requested_at > _p("since"),
                       Refund.requested_at <= _p("as_of"), late)
            )  # fmt: skip

        self._dated("unprompt_requests", self._run(("unprompt_requests",), build))

    def same_weeks_last_year(self) -> None:
        """Per surge window: deposits in the same days a year before, for the institutions
        whose history reaches back that far (one short range of the daily counters)."""
        t = InstitutionDay.__table__.c
        for window, _ahead in self.needs.surges:
            end = local_date(self.as_of) - timedelta(days=365)
            start = end - timedelta(days=window - 1)
            old_enough = [i for i, f in self.facts.items()
                          if local_date(f.created_at) <= start]  # fmt: skip
            if not old_enough:
                continue
            for f in self.facts.values():
                if local_date(f.created_at) <= start:
                    f.last_year[window] = ZERO
            for inst_id, amount in self._run(("same_weeks_last_year",), lambda: (
                select(t.institution_id, func.sum(t.deposits_amount))
                .where(t.institution_id.in_(self.scope), t.day >= _p("year_start"),
                       t.day <= _p("year_end"))
                .group_by(t.institution_id)
            ), year_start=start, year_end=end):  # fmt: skip
                if inst_id in self.facts and window in self.facts[inst_id].last_year:
                    self.facts[inst_id].last_year[window] = Decimal(amount or 0)

    def money_ahead(self) -> None:
        """Per (window, ahead days): money paid in the window, and the part paying for
        sessions that start more than `ahead days` after the payment. Sessions are in time
        order, so each enrollment needs one probe of the course's sessions by time (the last
        one before the mark), never a row per session: bounded by the window's enrollments."""
        for window, ahead in self.needs.surges:
            since = self.as_of - timedelta(days=window)

            def build(ahead: int = ahead) -> Any:
                mark = _days_after(self.dialect, Enrollment.paid_at, ahead)
                near = (
                    select(func.max(CourseSession.seq))
                    .where(CourseSession.course_id == Enrollment.course_id,
                           CourseSession.starts_at <= mark)
                    .correlate(Enrollment)
                    .scalar_subquery()
                )  # fmt: skip
                return (
                    select(Enrollment.institution_id, Enrollment.amount_paid,
                           Enrollment.first_session_seq, Enrollment.last_session_seq, near)
                    .where(Enrollment.institution_id.in_(self.scope),
                           Enrollment.paid_at > _p("window_since"),
                           Enrollment.paid_at <= _p("as_of"))
                )  # fmt: skip

            rows = self._run(("money_ahead", ahead), build, window_since=since)
            for inst_id, paid, first, last, near_seq in rows:
                f = self.facts[inst_id]
                total, part = f.ahead.get((window, ahead), (ZERO, ZERO))
                lessons = max(int(last) - int(first) + 1, 1)
                far = int(last) - max(int(near_seq or 0), int(first) - 1)
                share = Decimal(paid) * min(max(far, 0), lessons) / lessons
                f.ahead[(window, ahead)] = (total + Decimal(paid), part + share)

    def contested_refunds(self) -> None:
        """Institutions past an announced closure: the refunds they contested whose dispute
        was still undecided at as_of (no later event of theirs by then), summed. Only the
        closed ones are read: a few rows, no scan of every school's refunds."""
        closed_by = local_date(self.as_of) - timedelta(days=self.needs.closure_grace)
        wanted = [i for i, f in self.facts.items()
                  if f.closing_on is not None and f.closing_on <= closed_by]  # fmt: skip
        if not wanted:
            return
        disputed = (
            select(RefundEvent.refund_id, func.max(RefundEvent.at).label("disputed_at"))
            .where(RefundEvent.status == "disputed", RefundEvent.at <= self.as_of)
            .group_by(RefundEvent.refund_id)
            .subquery()
        )
        rows = self.s.execute(
            select(Refund.institution_id, func.sum(Refund.amount))
            .join(disputed, disputed.c.refund_id == Refund.id)
            .where(Refund.institution_id.in_(wanted),
                   ~select(RefundEvent.id).where(
                       RefundEvent.refund_id == Refund.id, RefundEvent.at <= self.as_of,
                       RefundEvent.at > disputed.c.disputed_at).exists())
            .group_by(Refund.institution_id)
        )  # fmt: skip
        for inst_id, amount in rows:
            self.facts[inst_id].contested_owed = Decimal(amount or 0)

    def reserve_positions(self) -> None:
        """Reserve-mode institutions: the reserve against what parents are owed; and
        institutions past an announced closure: what parents are still owed."""
        closed_by = local_date(self.as_of) - timedelta(days=self.needs.closure_grace)
        wanted = [
            f.institution_id
            for f in self.facts.values()
            if f.supervision_mode == "reserve"
            or (f.closing_on is not None and f.closing_on <= closed_by)
        ]
        # One valuation for all of them (the one the pages and the API read), as of the sweep.
        on = local_date(self.as_of)
        for inst_id, v in valuations(self.s.connection(), wanted, as_of=self.as_of).items():
            f = self.facts[inst_id]
            f.reserve, f.prepaid_outstanding = v.reserve, v.owed
            if f.supervision_mode == "reserve":  # a pack cached per region, sector and day
                pack = packs.for_institution(self.s, f, on=on)
                f.reserve_share = pack.values.reserve_requirement.share_of_owed

    def bank_withdrawals(self) -> None:
        """Institutions whose pack sets bank warnings: releases and refunds drawn on the
        supervised account in the 7 Beijing days to as_of, and its balance (packs cached per
        region, sector and day: no read for the others)."""
        on = local_date(self.as_of)
        watched: list[str] = []
        for f in self.facts.values():
            rule = packs.for_institution(self.s, f, on=on).values.bank_warnings
            if rule != NO_BANK_WARNINGS:
                f.bank_warnings = rule
                watched.append(f.institution_id)
        if not watched:
            return
        rows = self.s.execute(
            select(Instruction.institution_id, Instruction.id, Instruction.created_at,
                   Instruction.amount)
            .join(Institution, Institution.id == Instruction.institution_id)
            .where(Instruction.institution_id.in_(watched),
                   Instruction.account_no == Institution.escrow_account_no,
                   Instruction.status != "rejected",
                   Instruction.created_at >= start_of_local_day(on - timedelta(days=6)),
                   Instruction.created_at <= self.as_of)
        )  # fmt: skip
        for inst_id, ins_id, at, amount in rows:
            self.facts[inst_id].withdrawals.append((ins_id, _aware(at), Decimal(amount)))
        conn = self.s.connection()
        for inst_id in watched:
            f = self.facts[inst_id]
            if f.bank_warnings is not None and f.bank_warnings.minimum_balance is not None:
                b = institution_balances(conn, inst_id, as_of=self.as_of)
                f.escrow_balance = b.escrow - b.suspense

    def wind_downs(self) -> None:
        """The wind-down opened by as_of, if any (one an institution)."""
        for inst_id, wd_id, reason, effective, opened in self._run(("wind_downs",), lambda: (
            select(WindDown.institution_id, WindDown.id, WindDown.reason,
                   WindDown.effective_at, WindDown.opened_at)
            .where(WindDown.institution_id.in_(self.scope))
        )):  # fmt: skip
            if inst_id in self.facts and _aware(opened) <= self.as_of:
                self.facts[inst_id].wind_down = (wd_id, reason, _aware(effective))

    ALL = (
        wind_downs,
        daily_counters,
        failed_refunds,
        unexplained_debits,
        uncovered_liabilities,
        latest_statements,
        overdue_refunds,
        active_enrollments,
        unmatched_cash,
        complaints,
        lessons_claimed_early,
        scheduled_sessions,
        discounted_enrollments,
        packages,
        registry_changes,
        lesson_disputes,
        refund_answers,
        unprompt_requests,
        same_weeks_last_year,
        money_ahead,
        reserve_positions,
        contested_refunds,
        bank_withdrawals,
    )


def _days_after(dialect_name: str, instant: Any, days: int) -> Any:
    """`instant` plus whole days, in SQL (SQLite keeps instants as text: its datetime())."""
    if dialect_name == "sqlite":
        return func.datetime(instant, f"+{int(days)} days")
    return instant + literal_column(f"interval '{int(days)} days'")


def _working_days(start: Any, end: Any) -> int:
    """Working days from one instant's Beijing day to another's (a holiday is not counted);
    calendar days where the calendar does not reach."""
    return _working_days_between(local_date(_aware(start)), local_date(_aware(end)))


@lru_cache(maxsize=64)
def _day_of(as_of: datetime) -> date:
    # The sweep's own instant, asked of every institution's every counter (100,000 times at
    # 10,000 institutions): its Beijing day computed once.
    return local_date(as_of)


@lru_cache(maxsize=65536)
def _working_days_between(a: date, b: date) -> int:
    # A sweep asks this of every refund answer (16,000 at 10,000 institutions), mostly for
    # the same few hundred pairs of days; the calendar is fixed, so the answer can be kept.
    try:
        return working_days.working_days_between(a, b).days
    except DomainError:
        return max((b - a).days, 0)


def _announced(at: datetime | None, as_of: datetime) -> bool:
    """A closure announced by as_of (a sweep of a past instant does not see a later one)."""
    return at is not None and _aware(at) <= as_of


def _aware(value: Any) -> Any:
    """Aggregates over a UTC column come back naive (SQLite) or as text."""
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def peer_refund_rates(session: Session, cities: set[str], as_of: datetime) -> dict[str, Decimal]:
    """Each city's median refund requests per active enrollment over the peers' window, what
    a whole sweep derives from its facts, for a sweep of a few institutions: two aggregates
    over the cities' institutions instead of all their facts."""
    if not cities:
        return {}
    conn, named = session.connection(), sorted(cities)
    t, end = InstitutionDay.__table__.c, local_date(as_of)

    def active_stmt() -> Any:
        in_cities = or_(*(Institution.region_code.startswith(_p(f"c{n}"))
                          for n in range(len(named))))  # fmt: skip
        peers = select(Institution.id).where(in_cities, Institution.created_at <= _p("as_of"))
        return (
            select(Enrollment.institution_id, func.count())
            .where(Enrollment.institution_id.in_(peers.scalar_subquery()),
                   Enrollment.paid_at <= _p("as_of"), Enrollment.paid_at > _p("since"))
            .group_by(Enrollment.institution_id)
        )  # fmt: skip

    since = as_of - timedelta(days=ACTIVE_ENROLLMENT_DAYS)
    active = dict(conn.execute(
        _built(("peer_active", len(named)), active_stmt),
        {"as_of": as_of, "since": since, **{f"c{n}": c for n, c in enumerate(named)}},
    ).tuples().all())  # fmt: skip
    start = end - timedelta(days=PEER_REFUND_WINDOW_DAYS)
    ids = {"ids": list(active), "start": start, "end": end}
    recent = dict(conn.execute(_built(("peer_recent",), lambda: (
        select(t.institution_id, func.sum(t.refund_requests))
        .where(t.institution_id.in_(_p("ids", expanding=True)), t.day > _p("start"),
               t.day <= _p("end"))
        .group_by(t.institution_id)
    )), ids).tuples().all()) if active else {}  # fmt: skip
    region = dict(conn.execute(_built(("peer_regions",), lambda: (
        select(Institution.id, Institution.region_code)
        .where(Institution.id.in_(_p("ids", expanding=True)))
    )), ids).tuples().all()) if active else {}  # fmt: skip
    rates: dict[str, list[Decimal]] = {}
    for inst_id, n in active.items():
        share = Decimal(int(recent.get(inst_id) or 0)) / int(n)
        rates.setdefault(region[inst_id][:4], []).append(share)
    return {k: Decimal(statistics.median(v)) for k, v in rates.items()}


def peer_surges(
    session: Session, keys: set[tuple[str, str]], as_of: datetime, cfg: RiskConfig
) -> dict[tuple[str, str], list[Decimal]]:
    """Each (city, category)'s own surge ratios (deposits in the window against the trailing
    baseline) of the institutions with enough history: what a whole sweep derives from its
    facts, for a sweep of a few institutions, from one aggregate of the daily counters."""
    c = cfg.prepay_surge  # peers with the whole baseline behind them: a fixed span in SQL
    if not keys:
        return {}
    conn, named = session.connection(), sorted(keys)

    def peers_stmt() -> Any:
        in_keys = or_(*(and_(Institution.region_code.startswith(_p(f"city{n}")),
                             Institution.category == _p(f"cat{n}"))
                        for n in range(len(named))))  # fmt: skip
        return select(Institution.id, Institution.region_code + "|" + Institution.category).where(
            in_keys, Institution.created_at <= _p("old")
        )

    old = as_of - timedelta(days=c.window_days + c.baseline_days)
    wanted: dict[str, Any] = {"old": old}
    for n, (city, cat) in enumerate(named):
        wanted[f"city{n}"], wanted[f"cat{n}"] = city, cat
    peers = dict(
        conn.execute(_built(("peer_surgers", len(named)), peers_stmt), wanted).tuples().all()
    )
    if not peers:
        return {}
    t, end = InstitutionDay.__table__.c, local_date(as_of)
    split = end - timedelta(days=c.window_days)
    start = split - timedelta(days=c.baseline_days)

    def sums_stmt() -> Any:
        recent = func.sum(case((t.day > _p("split"), t.deposits_amount),
                               else_=literal_column("0")))  # fmt: skip
        before = func.sum(case((t.day <= _p("split"), t.deposits_amount),
                               else_=literal_column("0")))  # fmt: skip
        return (
            select(t.institution_id, recent, before)
            .where(t.institution_id.in_(_p("ids", expanding=True)), t.day > _p("start"),
                   t.day <= _p("end"))
            .group_by(t.institution_id)
        )  # fmt: skip

    out: dict[tuple[str, str], list[Decimal]] = {}
    for inst_id, now_, then in conn.execute(
        _built(("peer_surges",), sums_stmt),
        {"ids": list(peers), "split": split, "start": start, "end": end},
    ):
        expected = Decimal(then or 0) * c.window_days / c.baseline_days
        if expected > 0:
            region, cat = peers[inst_id].split("|")
            out.setdefault((region[:4], cat), []).append(Decimal(now_ or 0) / expected)
    return out
