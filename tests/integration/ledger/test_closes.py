"""Day closes: what each account stood at after its last entry of each Beijing day, written by
its first entry of a later day, read by point-in-time balances, recomputed by `verify`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

import ledger
from ledger.schema import closes
from tests.integration.ledger.helpers import D, liability, new_ledger, world

# 2026-09-01 10:00 Beijing: each step below is a later Beijing day, at varying hours.
START = datetime(2026, 9, 1, 2, tzinfo=UTC)


def _days(engine: Engine, days: int) -> tuple[str, str, str, list[datetime]]:
    """A world account paying a into b over `days` days: deposits, a hold posted in part the
    next day, another voided; three entries on most days."""
    name = new_ledger()
    instants = []
    with engine.begin() as c:
        w = world(c, name, START)
        a = liability(c, name, "a", START)
        b = liability(c, name, "b", START)
        held = None
        for day in range(days):
            at = START + timedelta(days=day, hours=day % 7)
            ledger.transfer(c, debit=w.id, credit=a.id, amount=D("100.00"), code="deposit", at=at)
            if held is not None:
                if day % 2:
                    ledger.post(c, pending_id=held.id, amount=D("20.00"), at=at)
                else:
                    ledger.void(c, pending_id=held.id, at=at)
            held = ledger.hold(c, debit=a.id, credit=b.id, amount=D("30.00"), code="consume", at=at)
            instants.append(at)
    return name, a.id, b.id, instants


def test_each_day_but_the_last_is_closed_after_its_last_entry(engine: Engine) -> None:
    _, a, _, instants = _days(engine, 5)
    with engine.connect() as c:
        rows = c.execute(
            select(closes).where(closes.c.account_id == a).order_by(closes.c.closed_at)
        ).all()
        assert [r.closed_at for r in rows] == instants[:-1]
        # After day 1: 100 deposited and one hold of 30 open on a.
        first = rows[0]
        assert (first.credits_posted, first.debits_pending) == (D("100.00"), D("30.00"))
        assert ledger.verify(c).ok


def test_balances_as_of_any_instant_agree_with_the_full_sum(engine: Engine) -> None:
    from ledger.balances import _recomputed

    _, a, b, instants = _days(engine, 9)
    probes = [START - timedelta(hours=1)]
    for at in instants:
        probes += [at - timedelta(microseconds=1), at, at + timedelta(hours=20)]
    with engine.connect() as c:
        for at in probes:
            assert ledger.balances(c, [a, b], as_of=at) == _recomputed(c, [a, b], at), at


def test_a_changed_close_is_found(fresh_engine: Engine) -> None:
    _, a, _, instants = _days(fresh_engine, 4)
    with fresh_engine.begin() as c:
        if c.dialect.name == "postgresql":
            c.execute(
                text(
                    "ALTER TABLE ledger_balance_closes DISABLE TRIGGER "
                    "ledger_balance_closes_no_update"
                )
            )
        else:
            c.execute(text("DROP TRIGGER ledger_balance_closes_no_update"))
        c.execute(
            text(
                "UPDATE ledger_balance_closes SET credits_posted = credits_posted + 1 "
                "WHERE account_id = :a AND closed_at = (SELECT min(closed_at) "
                "FROM ledger_balance_closes WHERE account_id = :a)"
            ),
            {"a": a},
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c)
        # The tampered figure is what a past balance now reads: verify is what says so.
        before_day_two = instants[1] - timedelta(microseconds=1)
        assert ledger.balance(c, a, as_of=before_day_two).credits_posted != D("100.00")
    assert not report.ok
    assert [(p.kind, p.subject) for p in report.problems] == [("close_differs", a)]


def test_a_made_up_close_is_found(fresh_engine: Engine) -> None:
    name, a, _, instants = _days(fresh_engine, 3)
    with fresh_engine.begin() as c:
        c.execute(
            closes.insert().values(
                account_id=a,
                closed_at=instants[0] + timedelta(hours=1),
                last_seq=0,
                debits_posted=D("0"),
                credits_posted=D("5.00"),
                debits_pending=D("0"),
                credits_pending=D("0"),
            )
        )
    with fresh_engine.connect() as c:
        report = ledger.verify(c, ledgers=[name])
    assert not report.ok and {p.kind for p in report.problems} == {"close_differs"}


def test_closes_are_append_only(engine: Engine) -> None:
    _, a, _, _ = _days(engine, 3)
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(
            text("UPDATE ledger_balance_closes SET last_seq = 9 WHERE account_id = :a"), {"a": a}
        )
    with pytest.raises(DBAPIError), engine.begin() as c:
        c.execute(text("DELETE FROM ledger_balance_closes WHERE account_id = :a"), {"a": a})


def test_a_batch_closes_the_days_of_the_accounts_it_touches(engine: Engine) -> None:
    """The general path (many operations at once) closes the days of the accounts that had
    entries, and no day of an account that had none (a parent's account opened at enrollment
    and paid days later)."""
    from ledger.balances import _recomputed
    from ledger.schema import GENESIS_HASH

    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, START)
        a = liability(c, name, "a", START)
        b = liability(c, name, "b", START)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("10.00"), code="deposit", at=START)
        later = START + timedelta(days=2)
        ops = [
            ledger.NewTransfer(
                debit_account_id=w.id,
                credit_account_id=x.id,
                amount=D("1.00"),
                code="d",
                pending=False,
                expires_at=None,
                reference=None,
                idempotency_key=None,
            )
            for x in (a, b)
        ]
        ledger.apply(c, ops, at=later)
        got = {
            r.account_id: r.closed_at
            for r in c.execute(select(closes).where(closes.c.account_id.in_([w.id, a.id, b.id])))
        }
        # b had no entry before: it stood at nothing, which needs no close (readers take an
        # account before its first close to stand at zero).
        assert got == {w.id: START, a.id: START}
        for probe in (START, later - timedelta(seconds=1), later):
            assert ledger.balances(c, [w.id, a.id, b.id], as_of=probe) == _recomputed(
                c, [w.id, a.id, b.id], probe
            ), probe
        heads = ledger.chain_heads_at_day_end(c, day_end=later - timedelta(seconds=1))
        assert heads[b.id] == (0, GENESIS_HASH)
        # One ledger's heads are the same as the whole book's for its accounts (the IN list
        # is expanded before the driver runs it: PostgreSQL once refused it).
        mine = ledger.chain_heads_at_day_end(
            c, day_end=later - timedelta(seconds=1), ledgers=[name]
        )
        assert mine and mine == {k: v for k, v in heads.items() if k in mine}
        assert {w.id, a.id, b.id} <= mine.keys()
        assert ledger.verify(c, ledgers=[name]).ok


def test_a_batch_over_many_accounts_closes_each_of_their_days(engine: Engine) -> None:
    """A batch touching more accounts than `COPY_FROM` (a wind-down's round holds every
    parent's account) writes their closes in bulk: the same rows, each account's figures as
    they stood, and point-in-time balances agree with the full sum."""
    from ledger.balances import _recomputed
    from ledger.bulk import COPY_FROM

    name = new_ledger()
    n = COPY_FROM + 6
    with engine.begin() as c:
        w = world(c, name, START)
        xs = [liability(c, name, f"p{i}", START) for i in range(n)]
        ops = [ledger.NewTransfer(debit_account_id=w.id, credit_account_id=x.id,
                                  amount=D(f"{10 + i}.00"), code="deposit", pending=False,
                                  expires_at=None, reference=None, idempotency_key=None)
               for i, x in enumerate(xs)]  # fmt: skip
        ledger.apply(c, ops, at=START)
        later = START + timedelta(days=1)
        holds = [ledger.NewTransfer(debit_account_id=x.id, credit_account_id=w.id,
                                    amount=D("1.00"), code="hold", pending=True, expires_at=None,
                                    reference=None, idempotency_key=None) for x in xs]  # fmt: skip
        ledger.apply(c, holds, at=later)
        got = {
            r.account_id: (r.closed_at, r.credits_posted, r.debits_pending)
            for r in c.execute(select(closes).where(closes.c.account_id.in_([x.id for x in xs])))
        }
        assert got == {x.id: (START, D(f"{10 + i}.00"), D("0.00")) for i, x in enumerate(xs)}
        ids = [x.id for x in xs]
        for probe in (START, later - timedelta(seconds=1), later):
            assert ledger.balances(c, ids, as_of=probe) == _recomputed(c, ids, probe), probe
        assert ledger.verify(c, ledgers=[name]).ok


def test_the_migration_fills_the_same_closes_for_history_written_before_it(
    fresh_engine: Engine,
) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[3] / "alembic/versions/2026-12-04-1800_balance_closes.py"
    spec = importlib.util.spec_from_file_location("balance_closes", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    _days(fresh_engine, 6)
    order = closes.c.account_id, closes.c.closed_at
    with fresh_engine.begin() as c:
        written = c.execute(select(closes).order_by(*order)).all()
        guard = "ledger_balance_closes_no_update"
        if c.dialect.name == "postgresql":
            c.execute(text(f"ALTER TABLE ledger_balance_closes DISABLE TRIGGER {guard}"))
        else:
            c.execute(text("DROP TRIGGER ledger_balance_closes_no_delete"))
        c.execute(text("DELETE FROM ledger_balance_closes"))
        c.execute(text(migration.BACKFILL.format(day=migration.DAY[c.dialect.name])))
        filled = c.execute(select(closes).order_by(*order)).all()
    assert len(written) > 10 and filled == written
