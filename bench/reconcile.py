"""Reconciling one account's daily statement on PostgreSQL, after one and after three years.

In one run on a fresh database, one supervised escrow account takes `--lines` bank
transactions a day (two deposits in for each release out: deposit rows, executed
instructions and their ledger transfers, written in bulk). After one year, then again after
three, `flows.statements.reconcile` matches each of the last ten days' statements (all its
lines, and the closing balance at the day's end) `--repeat` times, each in a transaction
rolled back after it. Every statement must come out matched. The baseline is the one-year
figure; the goal, the three-year figure within 1.2x of it.

Run: .venv/bin/python bench/reconcile.py [--lines 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

import ledger
from bench.common import Stopwatch, analyze, machine_speed, pct, temporary_pg_database
from ledger import NewTransfer
from service.flows import chart, onboarding
from service.flows.models import Deposit, Instruction
from service.flows.statements import Line, StatementIn, reconcile
from service.kit.clock import end_of_local_day, start_of_local_day
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.registry import institutions
from service.registry.credentials import create_bank
from service.registry.identifiers import make_credit_code
from service.registry.models import Bank, Institution, Regulator
from service.tables import load_reference

SECRET_KEY = "bench-secret-key-0123456789"  # noqa: S105 - a throw-away database
FIRST = date(2024, 1, 1)
IN, OUT = Decimal("100.00"), Decimal("50.00")


class Account:
    """The supervised account and the ledger accounts its history moves money between."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        now = datetime.combine(FIRST, datetime.min.time(), UTC)
        run_in_transaction(sessions, lambda s: load_reference(s, now=now))
        self.bank_id, self.inst_id, self.account_no = run_in_transaction(
            sessions, lambda s: self._open(s, now)
        )
        with sessions() as s, s.begin():
            conn = s.connection()
            self.cash = chart.institution_account(conn, self.inst_id, "escrow_cash").id
            self.parents = ledger.open_account(
                conn, ledger=self.inst_id, kind="bench_parents", owner=self.inst_id, at=now
            ).id
            self.paid_out = ledger.open_account(
                conn, ledger=self.inst_id, kind="bench_out", owner=self.inst_id, at=now
            ).id

    @staticmethod
    def _open(s: Session, now: datetime) -> tuple[str, str, str]:
        bank = create_bank(
            s, name="bench", code="BENCH", instruction_url=None, secret_key=SECRET_KEY, now=now
        )
        reg = Regulator(
            id="reg_bench", name="bench", region_code="220000", token_hash="x" * 64, created_at=now
        )
        s.add(reg)
        s.flush()
        inst, _ = onboarding.register_institution(
            s,
            regulator=reg,
            now=now,
            data=institutions.NewInstitution(
                name="bench",
                credit_code=make_credit_code("52", "220102", "BN000001"),
                region_code="220102",
                category="subject",
                supervision_mode="custody",
                bank_id=bank.id,
                escrow_account_no="BE00000001",
                operating_account_no="BO00000001",
            ),
        )
        return bank.id, inst.id, str(inst.escrow_account_no)

    def lines(self, day: date, count: int) -> list[Line]:
        start = start_of_local_day(day)
        return [
            Line(
                bank_txn_id=f"T{day:%Y%m%d}{k:05d}",
                direction="debit" if k % 3 == 2 else "credit",
                amount=OUT if k % 3 == 2 else IN,
                booked_at=start + timedelta(hours=9, seconds=k * 30),
            )
            for k in range(count)
        ]

    def write_day(self, s: Session, day: date, count: int) -> None:
        lines = self.lines(day, count)
        deposits = [self._deposit(t) for t in lines if t.direction == "credit"]
        paid = [self._instruction(t) for t in lines if t.direction == "debit"]
        s.execute(insert(Deposit), deposits)
        s.execute(insert(Instruction), paid)
        ops = [
            NewTransfer(
                debit_account_id=self.cash if t.direction == "credit" else self.paid_out,
                credit_account_id=self.parents if t.direction == "credit" else self.cash,
                amount=t.amount,
                code="deposit" if t.direction == "credit" else "release",
            )
            for t in lines
        ]
        ledger.batch(s.connection(), ops, at=lines[-1].booked_at)

    def _deposit(self, t: Line) -> dict[str, Any]:
        return {
            "id": f"dep_{t.bank_txn_id}", "bank_id": self.bank_id, "bank_txn_id": t.bank_txn_id,
            "request_hash": "0" * 64, "account_no": self.account_no,
            "institution_id": self.inst_id, "payment_reference": t.bank_txn_id,
            "amount": t.amount, "paid_at": t.booked_at, "received_at": t.booked_at,
            "status": "posted", "target": "escrow",
        }  # fmt: skip

    def _instruction(self, t: Line) -> dict[str, Any]:
        return {
            "id": f"ins_{t.bank_txn_id}", "bank_id": self.bank_id,
            "institution_id": self.inst_id, "kind": "release", "purpose": "release",
            "account_no": self.account_no, "amount": t.amount, "payee": {}, "hold_ids": [],
            "status": "executed", "created_at": t.booked_at, "result_bank_txn_id": t.bank_txn_id,
            "executed_at": t.booked_at, "result_at": t.booked_at, "delivered_at": t.booked_at,
            "delivery_attempts": 1,
        }  # fmt: skip

    def statement(self, day: date, count: int) -> StatementIn:
        k = (day - FIRST).days  # every day before nets (2 x IN - OUT) per 3 lines
        per_day = sum(IN if j % 3 != 2 else -OUT for j in range(count))
        return StatementIn(
            account_no=self.account_no,
            statement_date=day,
            opening_balance=per_day * k,
            closing_balance=per_day * (k + 1),
            transactions=tuple(self.lines(day, count)),
        )


def grow(sessions: sessionmaker[Session], account: Account, days: range, count: int) -> None:
    for d in days:
        with sessions() as s, s.begin():
            account.write_day(s, FIRST + timedelta(days=d), count)


def measure(
    sessions: sessionmaker[Session], account: Account, last: int, count: int, repeat: int
) -> list[float]:
    """Milliseconds to reconcile each of the ten days up to `last`, `repeat` times each."""
    now = end_of_local_day(FIRST + timedelta(days=last)) + timedelta(hours=1)
    times = []
    for _ in range(repeat):
        for d in range(last - 9, last + 1):
            data = account.statement(FIRST + timedelta(days=d), count)
            with sessions() as s:
                bank = s.get_one(Bank, account.bank_id)
                s.get_one(Institution, account.inst_id)
                t0 = time.perf_counter()
                done = reconcile(s, bank=bank, data=data, now=now)
                times.append((time.perf_counter() - t0) * 1000)
                assert done.statement.status == "matched", [b.kind for b in done.breaks]
                s.rollback()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine_speed():.0f} ms for the reference work (lower is faster)")
    with temporary_pg_database("bench_reconcile") as url:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        account = Account(sessions)
        figures = {}
        done = 0
        for years in (1, 3):
            watch = Stopwatch()
            grow(sessions, account, range(done, 365 * years), args.lines)
            done = 365 * years
            print(f"{years} y of history ({done * args.lines:,} lines) after {watch.elapsed:.0f} s "
                  "more of writing", flush=True)  # fmt: skip
            analyze(engine)
            figures[years] = measure(sessions, account, done - 1, args.lines, args.repeat)
        engine.dispose()
    print(f"reconcile one statement of {args.lines} lines (the last ten days, x{args.repeat}):")
    for years in (1, 3):
        ms = figures[years]
        print(f"  after {years} y: p50 {pct(ms, 50):7.1f} ms   p95 {pct(ms, 95):7.1f} ms")
    print(f"  3 y / 1 y (baseline), p50: {pct(figures[3], 50) / pct(figures[1], 50):.2f}x")
    print(f"machine: {machine_speed():.0f} ms for the reference work (lower is faster)")


if __name__ == "__main__":
    main()
