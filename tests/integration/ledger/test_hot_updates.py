"""A balance change rewrites no index: on PostgreSQL every account update a transfer makes is
HOT (the new row version beside the old, in the room fillfactor 50 keeps), which it can only
be while no index of `ledger_accounts` holds a column a transfer changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine

import ledger
from tests.integration.ledger.helpers import D, new_ledger, world

AT = datetime(2026, 9, 1, tzinfo=UTC)


def account_updates(c: Connection) -> tuple[int, int]:
    """(updates, HOT updates) of ledger_accounts as pg_stat_user_tables counts them."""
    c.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
    row = c.exec_driver_sql(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'ledger_accounts'"
    ).one()
    return int(row[0]), int(row[1])


def flushed(c: Connection) -> None:
    """This backend's counts reach the shared statistics when its transaction ends, not up to
    ten seconds later as an idle backend's would."""
    c.exec_driver_sql("SELECT pg_stat_force_next_flush()")
    c.commit()


def source_and_sinks(c: Connection, name: str, n: int) -> tuple[str, list[str], int, int]:
    """A funded source and `n` sink accounts opened one after another, and the account
    updates (all, HOT) counted so far."""
    source = world(c, name, AT)
    sinks = [
        ledger.open_account(c, ledger=name, kind="sink", owner=f"s{k}", at=AT).id for k in range(n)
    ]
    flushed(c)
    upd0, hot0 = account_updates(c)
    c.commit()
    return source.id, sinks, upd0, hot0


def test_account_updates_of_transfers_are_hot(engine: Engine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's heap-only tuples")
    name = new_ledger()
    n = 20
    with engine.connect() as c:
        source, sinks, upd0, hot0 = source_and_sinks(c, name, n)
        for k, sink in enumerate(sinks):
            at = AT + timedelta(seconds=k)
            ledger.transfer(c, debit=source, credit=sink, amount=D("1.00"), code="t", at=at)
            c.commit()
        flushed(c)
        upd1, hot1 = account_updates(c)
        c.commit()
    assert upd1 - upd0 >= 2 * n  # both sides of each transfer
    # With an index on a changed column no update is HOT (0 of 8,000 before the fix). A page
    # whose room is used up takes a non-HOT update whatever the indexes, which happens in a
    # database other tests of the run have filled (31 of 40 seen), so most, not all.
    hot, updates = hot1 - hot0, upd1 - upd0
    assert hot * 2 >= updates, f"{hot} of {updates} account updates were HOT"


def test_a_batch_over_accounts_opened_together_is_hot(engine: Engine, backend: str) -> None:
    """A bank's batch pays parents' accounts that were opened one after another, so they share
    pages; every one changes in the same transaction. At fillfactor 70 the room kept took
    about half of the new versions (the rest wrote all four indexes); at 50, all of them."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's heap-only tuples")
    name = new_ledger()
    n = 80
    with engine.connect() as c:
        source, sinks, upd0, hot0 = source_and_sinks(c, name, n)
        ops = [
            ledger.NewTransfer(debit_account_id=source, credit_account_id=sink,
                               amount=D("1.00"), code="t", pending=False, expires_at=None,
                               reference=None, idempotency_key=None)
            for sink in sinks
        ]  # fmt: skip
        ledger.apply(c, ops, at=AT + timedelta(hours=1))
        flushed(c)
        upd1, hot1 = account_updates(c)
        c.commit()
    hot, updates = hot1 - hot0, upd1 - upd0
    assert updates == n + 1
    assert hot * 10 >= updates * 9, f"{hot} of {updates} account updates were HOT"
