"""Batch use cases judge each item as if it came alone, on SQLite and PostgreSQL: a class's
lessons reported at once (`consumptions.report_many`), a bank's daily file of statements
(`statements.reconcile_many`), a file of instruction results (`settlement.apply_results`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import consumptions, settlement, statements
from service.flows.models import Consumption, Deposit, LatestStatement
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker
from service.registry.models import Bank, Institution
from tests.api.conftest import bearer
from tests.api.test_flows import START, World


def _paid(w: World, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        e = w.enroll(lessons=4, amount="80.00")
        assert w.pay(e).status_code == 201
        out.append(e)
    return out


def test_lessons_reported_together_are_judged_one_by_one(world: World, engine: Engine) -> None:
    a, b = _paid(world, 2)
    unpaid = world.enroll(lessons=4, amount="80.00")
    world.clock.now = START + timedelta(days=2, hours=9)  # three sessions have started
    now = world.clock.now
    items = [
        consumptions.LessonReport(enrollment_id=a["id"], lessons=2, occurred_at=now),
        consumptions.LessonReport(enrollment_id=b["id"], lessons=1, occurred_at=now),
        consumptions.LessonReport(
            enrollment_id=a["id"], lessons=2, occurred_at=now
        ),  # after the first, two remain: off timetable
        consumptions.LessonReport(enrollment_id=unpaid["id"], lessons=1, occurred_at=now),
        consumptions.LessonReport(enrollment_id=b["id"], lessons=9, occurred_at=now),
        consumptions.LessonReport(enrollment_id="enr_nobody", lessons=1, occurred_at=now),
        consumptions.LessonReport(
            enrollment_id=a["id"], lessons=1, occurred_at=now
        ),  # none remain now
    ]
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        inst = s.get(Institution, world.inst_id)
        assert inst is not None
        out = consumptions.report_many(s, institution=inst, items=items, now=now)
    codes = [r.code if isinstance(r, DomainError) else "ok" for r in out]
    assert codes == ["ok", "ok", "ok", "not_funded", "exceeds_remaining", "not_found",
                     "exceeds_remaining"]  # fmt: skip
    taken = [r for r in out if isinstance(r, consumptions.Reported)]
    assert [r.consumption.amount for r in taken] == [Decimal("40.00"), Decimal("20.00"),
                                                      Decimal("40.00")]  # fmt: skip
    assert [r.consumption.off_timetable for r in taken] == [False, False, True]
    assert all(r.consumption.confirm_until == now + timedelta(days=7) for r in taken)
    assert world.balances()["earned_unreleased"] == "100.00"
    got = world.client.get(f"/api/v1/enrollments/{a['id']}", headers=bearer(world.key)).json()
    assert got["lessons_consumed"] == 4 and got["status"] == "completed"
    verified = world.client.get("/api/v1/ledger/verify", headers=bearer(world.reg)).json()
    assert verified["ok"] is True


def test_a_refused_ledger_batch_keeps_nothing(world: World, engine: Engine) -> None:
    """Items pass their checks, the ledger refuses the batch (an account closed behind the
    service's back): the caller's transaction keeps none of it."""
    (a,) = _paid(world, 1)
    world.clock.now = START + timedelta(days=3, hours=9)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as s:
        conn = s.connection()
        earned = ledger.find_account(conn, ledger=world.inst_id, kind="earned", owner=world.inst_id)
        assert earned is not None
        ledger.close_account(conn, earned.id)
        inst = s.get(Institution, world.inst_id)
        assert inst is not None
        item = consumptions.LessonReport(
            enrollment_id=a["id"], lessons=1, occurred_at=world.clock.now
        )
        try:
            consumptions.report_many(s, institution=inst, items=[item], now=world.clock.now)
        except ledger.LedgerError:
            s.rollback()
        else:
            raise AssertionError("the ledger took a transfer to a closed account")
    with sessions() as s:
        assert (
            s.scalars(select(Consumption).where(Consumption.enrollment_id == a["id"])).all() == []
        )


def _statement(w: World, s: Session, closing: str) -> statements.StatementIn:
    lines = tuple(
        statements.Line(
            bank_txn_id=d.bank_txn_id, direction="credit", amount=d.amount, booked_at=d.paid_at
        )
        for d in s.execute(
            select(
                Deposit.bank_txn_id,
                Deposit.amount,
                Deposit.paid_at,
            ).where(Deposit.account_no == w.escrow)
        )
    )
    opening = Decimal(closing) - sum((ln.amount for ln in lines), Decimal("0"))
    return statements.StatementIn(
        account_no=w.escrow,
        statement_date=local_date(START),
        opening_balance=opening,
        closing_balance=Decimal(closing),
        transactions=lines,
    )


def test_a_daily_file_is_reconciled_as_each_statement_alone(world: World, engine: Engine) -> None:
    _paid(world, 2)
    sessions = make_sessionmaker(engine)
    world.clock.now = START + timedelta(days=1)
    now = world.clock.now
    with sessions.begin() as s:
        bank = s.get(Bank, world.bank.id)
        assert bank is not None
        good = _statement(world, s, "160.00")
        short = _statement(world, s, "150.00")
        foreign = statements.StatementIn(
            account_no="NOT-OURS",
            statement_date=local_date(START),
            opening_balance=Decimal(0),
            closing_balance=Decimal(0),
            transactions=(),
        )
        out = statements.reconcile_many(s, bank=bank, items=[good, short, foreign, good], now=now)
    first, second, refused, again = out
    assert isinstance(first, statements.Reconciled) and first.statement.status == "matched"
    assert isinstance(second, statements.Reconciled)
    assert [b.kind for b in second.breaks] == ["balance_differs"]
    assert isinstance(refused, DomainError) and refused.code == "foreign_account"
    assert isinstance(again, statements.Reconciled) and again.statement is first.statement
    with sessions.begin() as s:
        bank = s.get(Bank, world.bank.id)
        assert bank is not None
        replay = statements.reconcile(s, bank=bank, data=_statement(world, s, "150.00"), now=now)
        assert replay.statement.id == second.statement.id
        assert [b.id for b in replay.breaks] == [b.id for b in second.breaks]
        latest = s.execute(
            select(LatestStatement.statement_id).where(LatestStatement.account_no == world.escrow)
        ).scalar_one()
        assert latest == second.statement.id  # the same day, arrived later
        # The bank corrects itself: the account's latest statement matches again (and leaves
        # no shortfall behind for the other tests of this database).
        next_day = statements.StatementIn(
            account_no=world.escrow,
            statement_date=local_date(START) + timedelta(days=1),
            opening_balance=Decimal("160"),
            closing_balance=Decimal("160"),
            transactions=(),
        )
        fixed = statements.reconcile(s, bank=bank, data=next_day, now=now + timedelta(days=1))
        assert fixed.statement.status == "matched"


def test_a_file_of_instruction_results_is_settled_as_one_by_one(
    world: World, engine: Engine
) -> None:
    """`settlement.apply_results`: each result as if reported alone, in order (the same result
    again changes nothing, a different one is refused in its slot, an unknown instruction
    too), the holds of all resolved in one ledger batch."""
    (a,) = _paid(world, 1)
    world.clock.now = START + timedelta(days=2, hours=9)
    world.consume(a["id"], 1)
    world.clock.now = START + timedelta(days=10)
    assert world.job("release_batch")["instructions"] >= 1  # others of the database too
    (release,) = [i for i in world.pending() if i["kind"] == "release"]
    now = world.clock.now

    def result(ins_id: str, status: str, txn: str) -> settlement.Result:
        return settlement.Result(
            instruction_id=ins_id, status=status, bank_txn_id=txn, executed_at=now, reason=None
        )

    results = [
        result("ins_nobody", "executed", "X-0"),
        result(release["id"], "executed", "REL-1"),
        result(release["id"], "executed", "REL-1"),
        result(release["id"], "rejected", "REL-2"),
    ]
    with make_sessionmaker(engine).begin() as s:
        out = settlement.apply_results(s, bank_id=world.bank.id, results=results, now=now)
        codes = [r.code if isinstance(r, DomainError) else r.status for r in out]
    assert codes == ["unknown_instruction", "executed", "executed", "instruction_settled"]
    assert world.balances()["released"] == "20.00"
    assert world.pending() == []
    verified = world.client.get("/api/v1/ledger/verify", headers=bearer(world.reg)).json()
    assert verified["ok"] is True
