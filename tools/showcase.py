"""A small Changchun with one of everything the workbench shows, built through the domain code
over the last two weeks: the browser tests work in it and `make screenshots` photographs it.

- 南关区启明学科培训学校 (220102): its bank's statement shows money leaving escrow with no
  instruction behind it (an escrow shortfall: critical), and a parent has complained.
- 朝阳区博文学科培训中心 (220104): a refund asked twelve days ago is still unanswered (overdue).
- 二道区青苗体育培训中心 (220105): lessons reported; a parent disputes one.
- 宽城区育才学科培训学校 (220103): a risk-reserve school, quiet.
- 铁西区明德艺术培训学校 (220302): Siping, outside Changchun's reach, also short of escrow.

Each day is swept at 23:00 Beijing time, so the overview has a trend; the last sweep runs as
the scheduler's job would, so the jobs table has a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.fees.filings import CourseData, file_course
from service.flows import consumptions, deposits, enrollments, onboarding, parents, refunds
from service.flows.statements import Line, StatementIn
from service.jobs.runner import run_job
from service.kit.clock import SHANGHAI, local_date
from service.kit.db import session_scope
from service.registry import institutions
from service.registry.credentials import create_bank, create_regulator
from service.registry.identifiers import make_credit_code
from service.registry.models import Bank, Institution, Regulator
from service.risk import triggers
from service.risk.sweep import sweep

DAYS = 14
PRICE = Decimal("20.00")


@dataclass(frozen=True)
class School:
    key: str
    name: str
    region: str
    category: str
    mode: str


SCHOOLS = (
    School("critical", "南关区启明学科培训学校", "220102", "subject", "custody"),
    School("overdue", "朝阳区博文学科培训中心", "220104", "subject", "custody"),
    School("disputed", "二道区青苗体育培训中心", "220105", "non_subject", "custody"),
    School("reserve", "宽城区育才学科培训学校", "220103", "subject", "reserve"),
    School("elsewhere", "铁西区明德艺术培训学校", "220302", "non_subject", "custody"),
)


@dataclass
class Showcase:
    """What the tests and the screenshots sign in with and look for."""

    tokens: dict[str, str] = field(default_factory=dict)  # region → regulator token
    institutions: dict[str, str] = field(default_factory=dict)  # school key → id
    parent: tuple[str, str] = ("", "")  # an enrollment id and its access code
    case: str = ""  # the open case of the critical school


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


def _school_days(first: date, n: int) -> tuple[tuple[datetime, datetime], ...]:
    from service.fees.calendar import school_day

    out: list[tuple[datetime, datetime]] = []
    day = first
    while len(out) < n:
        if school_day(day)[0]:
            start = _at(day, 17)
            out.append((start, start + timedelta(minutes=45)))
        day += timedelta(days=1)
    return tuple(out)


def build(sessions: sessionmaker[Session], settings: Settings, *, now: datetime) -> Showcase:
    start = local_date(now) - timedelta(days=DAYS)
    shown = Showcase()
    with session_scope(sessions) as s:
        t0 = _at(start, 9)
        bank = create_bank(
            s, name="吉林银行长春分行", code="JLB-CC", instruction_url=None,
            secret_key=settings.secret_key, now=t0,
        )  # fmt: skip
        for name, region in (
            ("吉林省教育厅", "220000"),
            ("长春市教育局", "220100"),
            ("四平市教育局", "220300"),
        ):
            shown.tokens[region] = create_regulator(
                s, name=name, region_code=region, now=t0
            ).credential
        province = s.query(Regulator).filter_by(region_code="220000").one()
        for n, school in enumerate(SCHOOLS, start=1):
            shown.institutions[school.key] = _open(s, province, bank.id, school, n, t0)
    for d in range(DAYS):
        with session_scope(sessions) as s:
            _day(s, settings, shown, start + timedelta(days=d), d, now)
            sweep(
                s, as_of=_at(start + timedelta(days=d), 23), now=_at(start + timedelta(days=d), 23)
            )
    run_job(sessions, "risk_sweep", as_of=now, settings=settings, now=now)
    with session_scope(sessions) as s:
        _lesson_this_morning(s, shown, now)
        from service.risk.alerts import active_alerts

        shown.case = active_alerts(s, [shown.institutions["critical"]])[
            shown.institutions["critical"]
        ].id
    return shown


def _open(s: Session, by: Regulator, bank_id: str, school: School, n: int, at: datetime) -> str:
    inst, _key = onboarding.register_institution(
        s,
        regulator=by,
        now=at,
        data=institutions.NewInstitution(
            name=school.name,
            credit_code=make_credit_code("52", school.region, f"MA{n:06d}"),
            region_code=school.region,
            category=school.category,
            supervision_mode=school.mode,
            bank_id=bank_id,
            escrow_account_no=f"6227000{n:05d}",
            operating_account_no=f"6228000{n:05d}",
            reserve_account_no=f"6229000{n:05d}" if school.mode == "reserve" else None,
            legal_person="张" + "伟芳敏静丽"[n % 5],
            address=f"长春市人民大街{100 + n}号",
        ),
    )
    return inst.id


def _day(s: Session, settings: Settings, shown: Showcase, day: date, d: int, now: datetime) -> None:
    bank = s.query(Bank).one()
    for school in SCHOOLS:
        inst = s.get(Institution, shown.institutions[school.key])
        assert inst is not None
        if d == 0:
            _course(s, inst, day)
        if d in (0, 1, 4):
            _enrol(s, settings, shown, bank, inst, day, d)
        if d == 2 and school.mode == "reserve":
            _reserve(s, bank, inst, day)
    if d == 2:
        _overdue_refund(s, shown, day)
    if d == 6:
        _report_and_dispute(s, shown, day)
    if d == DAYS - 1:
        _statements(s, bank, shown, day, now)
        _complaint(s, shown, day)


def _course(s: Session, inst: Institution, day: date) -> None:
    sessions = _school_days(day + timedelta(days=1), 40)
    data = CourseData(
        title="初中数学" if inst.category == "subject" else "少儿篮球",
        subject="math" if inst.category == "subject" else "basketball",
        category=inst.category,
        grade_band="junior",
        mode="offline",
        class_size=20,
        lesson_minutes=45,
        lessons_total=len(sessions),
        price_per_lesson=PRICE,
        list_price_per_lesson=None,
        sessions=sessions,
    )
    course = file_course(s, institution=inst, now=_at(day, 8), data=data)
    assert course.status == "approved", (inst.name, course.violations)


def _enrol(
    s: Session, settings: Settings, shown: Showcase, bank: Bank, inst: Institution, day: date,
    d: int,
) -> None:  # fmt: skip
    from service.fees.models import Course

    course = s.query(Course).filter_by(institution_id=inst.id).one()
    for k in range(3 if d == 0 else 2):
        at = _at(day, 10) + timedelta(minutes=7 * k)
        made = enrollments.create(
            s, institution=inst, course_id=course.id, student_ref=f"学生{d}{k}", lessons=20,
            amount=PRICE * 20, now=at, settings=settings,
        )  # fmt: skip
        deposits.receive(
            s,
            bank=bank,
            now=at + timedelta(minutes=3),
            data=deposits.DepositIn(
                bank_txn_id=f"DEP{inst.escrow_account_no[-3:]}{d}{k}",
                account_no=inst.escrow_account_no,
                payment_reference=made.enrollment.payment_reference,
                amount=PRICE * 20,
                paid_at=at + timedelta(minutes=2),
            ),
        )
        if not shown.parent[0] and inst.category == "non_subject":
            shown.parent = (made.enrollment.id, made.access_code)


def _reserve(s: Session, bank: Bank, inst: Institution, day: date) -> None:
    assert inst.reserve_account_no is not None
    at = _at(day, 11)
    deposits.receive(
        s,
        bank=bank,
        now=at,
        data=deposits.DepositIn(
            bank_txn_id="RSV-0001",
            account_no=inst.reserve_account_no,
            payment_reference="reserve",
            amount=Decimal("3000.00"),
            paid_at=at,
        ),
    )


def _first_enrollment(s: Session, inst_id: str) -> str:
    from service.flows.models import Enrollment

    first = s.scalar(
        select(Enrollment.id)
        .where(Enrollment.institution_id == inst_id)
        .order_by(Enrollment.enrolled_at)
        .limit(1)
    )
    assert first is not None
    return first


def _overdue_refund(s: Session, shown: Showcase, day: date) -> None:
    e = _first_enrollment(s, shown.institutions["overdue"])
    refunds.request(s, enrollment_id=e, lessons=None, reason="孩子转学", now=_at(day, 12))


def _report_and_dispute(s: Session, shown: Showcase, day: date) -> None:
    inst = s.get(Institution, shown.institutions["disputed"])
    assert inst is not None
    e, _code = shown.parent
    held = _school_days(day - timedelta(days=5), 3)
    for start, _end in held:
        consumptions.report(
            s, institution=inst, enrollment_id=e, lessons=1, occurred_at=start,
            session_ref=None, now=_at(day, 19),
        )  # fmt: skip
    (last, *_rest) = sorted(consumptions.of_enrollment(s, e), key=lambda c: c.occurred_at)[-1:]
    consumptions.dispute(
        s, consumption_id=last.id, enrollment_id=e, reason="那天孩子生病没有去上课",
        now=_at(day, 21),
    )  # fmt: skip


def _lesson_this_morning(s: Session, shown: Showcase, now: datetime) -> None:
    """A lesson the parent may still dispute."""
    inst = s.get(Institution, shown.institutions["disputed"])
    assert inst is not None
    consumptions.report(
        s, institution=inst, enrollment_id=shown.parent[0], lessons=1,
        occurred_at=now - timedelta(hours=2), session_ref=None, now=now - timedelta(hours=1),
    )  # fmt: skip


def _statements(s: Session, bank: Bank, shown: Showcase, day: date, now: datetime) -> None:
    """The banks' statements of yesterday: all match but two, where money left escrow with no
    instruction of ours behind it."""
    from service.flows.models import Deposit

    for key, inst_id in shown.institutions.items():
        inst = s.get(Institution, inst_id)
        assert inst is not None
        deps = s.query(Deposit).filter_by(account_no=inst.escrow_account_no).all()
        lines = [
            Line(
                bank_txn_id=d.bank_txn_id, direction="credit", amount=d.amount, booked_at=d.paid_at
            )
            for d in deps
            if local_date(d.paid_at) == day
        ]
        held = sum((d.amount for d in deps), Decimal("0"))
        before = sum((d.amount for d in deps if local_date(d.paid_at) < day), Decimal("0"))
        taken = Decimal("1200.00") if key in ("critical", "elsewhere") else Decimal("0")
        if taken:
            lines.append(
                Line(
                    bank_txn_id=f"WD{inst_id[-6:]}",
                    direction="debit",
                    amount=taken,
                    booked_at=_at(day, 15),
                )
            )
        triggers.statement_reconciled(  # as the bank's API takes it: money gone is judged at once
            s,
            bank=bank,
            now=min(_at(day + timedelta(days=1), 6), now - timedelta(minutes=1)),
            data=StatementIn(
                account_no=inst.escrow_account_no,
                statement_date=day,
                opening_balance=before,
                closing_balance=held - taken,
                transactions=tuple(lines),
            ),
        )


def _complaint(s: Session, shown: Showcase, day: date) -> None:
    parents.complain(
        s,
        institution_id=shown.institutions["critical"],
        enrollment_id=None,
        category="asked_to_pay_off_platform",
        text="老师让我们把下学期的学费直接转到校长的个人微信。",
        now=_at(day, 20),
    )
