"""A wind-down of 20,000 claims on PostgreSQL (issue 34): opening it (every claim computed from
the ledger, the reviewed unexplained debit booked, the institution's gate shut) and instructing
a round (the pro-rata split and one bank instruction with its ledger hold per claim), beside a
plain `SUM` of the same prepaid balances in the same run, the baseline.

Setup (not timed): one school, `--claims` enrollments paid through `deposits.receive_many` a
thousand at a time. Then, each timed in its own transaction:
  1. baseline: `SELECT sum(credits_posted - debits_posted)` over the school's prepaid accounts;
  2. `winddowns.open_wind_down`: claims computed and written;
  3. `rounds.make_round`: every claim's part allocated and instructed.
The goal: (2) + (3) under 10 s.

Run: .venv/bin/python bench/winddown.py [--claims 20000]
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.common import Stopwatch, analyze, machine_speed, temporary_pg_database
from service.config import Settings
from service.fees.filings import CourseData, file_course
from service.flows import deposits, enrollments, onboarding, rounds, winddowns
from service.flows.models import Enrollment
from service.kit.db import make_engine, make_sessionmaker
from service.kit.migrate import upgrade
from service.registry.credentials import create_bank, create_regulator
from service.registry.institutions import NewInstitution
from service.registry.models import Bank, Institution, Regulator
from service.tables import load_reference
from tests import factories

SETTINGS = Settings(environment="development", database_url="sqlite://", secret_key="b" * 24)


def setup(url: str, claims: int) -> tuple[str, str]:
    """The school and its paid enrollments: (regulator id, institution id)."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC) - timedelta(hours=1)
    with sessions.begin() as s:
        load_reference(s, now=now)
        reg = create_regulator(s, name="bench", region_code="220000", now=now)
        bank = create_bank(s, name="Bench Bank", code="BENCH", instruction_url=None,
                           secret_key=SETTINGS.secret_key, now=now)  # fmt: skip
        data = NewInstitution(**factories.institution_body(bank.id, region="220102"))
        inst, _ = onboarding.register_institution(
            s, regulator=s.get_one(Regulator, reg.id), data=data, now=now
        )
        when = tuple(
            (datetime.fromisoformat(x["starts_at"]), datetime.fromisoformat(x["ends_at"]))
            for x in factories.school_days(factories.next_monday(), 12)
        )
        course = file_course(s, institution=inst, now=now, data=CourseData(
            title="初中数学", subject="math", category="subject", grade_band="junior",
            mode="offline", class_size=20, lesson_minutes=45, lessons_total=12,
            price_per_lesson=Decimal("20.00"), list_price_per_lesson=None, sessions=when))  # fmt: skip
        ids = (reg.id, inst.id, bank.id, course.id, inst.escrow_account_no)
    reg_id, inst_id, bank_id, course_id, escrow = ids
    for start in range(0, claims, 1000):
        with sessions.begin() as s:
            inst = s.get_one(Institution, inst_id)
            orders = [
                _order(inst, course_id, k, now) for k in range(start, min(claims, start + 1000))
            ]
            made = [m.enrollment for m in enrollments.create_many(s, orders, settings=SETTINGS)
                    if isinstance(m, enrollments.Enrolled)]  # fmt: skip
            items = [_deposit(e, escrow, now) for e in made]
            deposits.receive_many(s, bank=s.get_one(Bank, bank_id), items=items, now=now)
    analyze(engine)
    engine.dispose()
    return reg_id, inst_id


def _order(inst: Institution, course_id: str, k: int, now: datetime) -> enrollments.Order:
    amount = Decimal(f"{150 + k % 50}.{k * 37 % 100:02d}")
    return enrollments.Order(institution=inst, course_id=course_id, student_ref=f"s{k}",
                             lessons=10, amount=amount, at=now)  # fmt: skip


def _deposit(e: Enrollment, escrow: str, now: datetime) -> deposits.DepositIn:
    return deposits.DepositIn(bank_txn_id=f"D{e.id}", account_no=escrow,
                              payment_reference=e.payment_reference, amount=e.amount_due,
                              paid_at=now)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--claims", type=int, default=20_000)
    args = parser.parse_args()
    print(f"machine speed before: {machine_speed():.0f} ms (lower is faster)")
    with temporary_pg_database("bench_winddown") as url:
        upgrade(url)
        watch = Stopwatch()
        reg_id, inst_id = setup(url, args.claims)
        print(f"setup: {args.claims:,} paid enrollments in {watch.elapsed:.1f} s")
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        watch = Stopwatch()
        with engine.connect() as c:
            total = c.execute(
                text("SELECT sum(credits_posted - debits_posted) FROM ledger_accounts "
                     "WHERE ledger = :i AND kind = 'prepaid'"), {"i": inst_id},
            ).scalar()  # fmt: skip
        baseline = watch.elapsed
        watch = Stopwatch()
        with sessions.begin() as s:
            wd = winddowns.open_wind_down(
                s, regulator=s.get_one(Regulator, reg_id), institution_id=inst_id,
                reason=winddowns.Reason.ABSCONDED, effective_at=datetime.now(UTC),
                note="bench", now=datetime.now(UTC),
            )  # fmt: skip
            wd_id = wd.id
            summary = winddowns.summary(s, wd)
        opened = watch.elapsed
        watch = Stopwatch()
        with sessions.begin() as s:
            made = rounds.make_round(s, regulator=s.get_one(Regulator, reg_id),
                                     wind_down_id=wd_id, amount=None, now=datetime.now(UTC))  # fmt: skip
            instructed = made.instructions
        rounded = watch.elapsed
        assert summary.count == args.claims and summary.total == total, (summary, total)
        assert instructed == args.claims
        engine.dispose()
    print(f"  plain SUM of the {args.claims:,} prepaid balances      {baseline * 1000:>9.1f} ms")
    print(f"  open the wind-down ({summary.count:,} claims, {summary.total} yuan) {opened:>9.2f} s")
    print(f"  a round: {instructed:,} instructions with their holds      {rounded:>9.2f} s")
    print(f"  claims and a round together                     {opened + rounded:>9.2f} s"
          f"  (goal < 10 s; {(opened + rounded) / baseline:,.0f}x the plain SUM)")  # fmt: skip
    print(f"machine speed after: {machine_speed():.0f} ms")


if __name__ == "__main__":
    main()
