"""`transfer_alone`: a transfer that is a database transaction of its own. On PostgreSQL one
round trip (the prepared call as a statement of its own: no BEGIN, no COMMIT); every guarantee of
`transfer` holds: what it returns is stored and verifies, a refusal is the same typed error
and writes nothing, an idempotency key replays or conflicts, and a late `at` is recorded at
the accounts' latest entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select

import ledger
from ledger import errors, wire
from ledger.schema import transfers
from service.kit.db import make_engine
from tests.integration.ledger.helpers import D, liability, new_ledger, world

AT = datetime(2026, 9, 1, tzinfo=UTC)


def accounts(engine: Engine) -> tuple[str, str, str, str]:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        b = liability(c, name, "b", AT)
    return name, w.id, a.id, b.id


def stored(engine: Engine, transfer_id: str) -> ledger.Transfer:
    with engine.connect() as c:
        row = c.execute(select(transfers).where(transfers.c.id == transfer_id)).one()
    return ledger.Transfer.from_row(row)


def test_what_it_returns_is_committed_and_verifies(engine: Engine) -> None:
    name, w, a, b = accounts(engine)
    first = ledger.transfer_alone(
        engine, debit=w, credit=a, amount=D("10.00"), code="deposit", at=AT, reference="参考"
    )
    second = ledger.transfer_alone(
        engine, debit=a, credit=b, amount=D("4.50"), code="t", at=AT + timedelta(seconds=1)
    )
    assert stored(engine, first.id) == first and stored(engine, second.id) == second
    assert (second.chain_seq, second.prev_hash) == (1, "0" * 64)
    with engine.connect() as c:
        assert ledger.balance(c, a).credit_balance == D("5.50")
        assert ledger.balance(c, b).credit_balance == D("4.50")
        report = ledger.verify(c, ledgers=[name])
        assert report.ok, report.problems
        assert ledger.trial_balance(c, ledgers=[name]).balanced


def test_a_refusal_is_the_typed_error_and_writes_nothing(engine: Engine) -> None:
    name, w, a, b = accounts(engine)
    ledger.transfer_alone(engine, debit=w, credit=a, amount=D("10.00"), code="t", at=AT)
    with pytest.raises(errors.ExceedsCredits):
        ledger.transfer_alone(engine, debit=a, credit=b, amount=D("10.01"), code="t", at=AT)
    with pytest.raises(errors.AccountNotFound):
        ledger.transfer_alone(engine, debit=a, credit="acc_missing", amount=D("1"), code="t", at=AT)
    with pytest.raises(errors.InvalidAmount):
        ledger.transfer_alone(engine, debit=a, credit=b, amount=D("0.001"), code="t", at=AT)
    with pytest.raises(ValueError, match="aware"):
        ledger.transfer_alone(
            engine, debit=a, credit=b, amount=D("1"), code="t", at=AT.replace(tzinfo=None)
        )
    with engine.connect() as c:
        assert ledger.balance(c, b).credits_posted == D("0.00")
        assert ledger.verify(c, ledgers=[name]).entries_checked == 1


def test_an_idempotency_key_replays_or_conflicts(engine: Engine) -> None:
    name, w, a, _ = accounts(engine)
    key = f"{name}:k"
    first = ledger.transfer_alone(
        engine, debit=w, credit=a, amount=D("3.00"), code="t", at=AT, idempotency_key=key
    )
    again = ledger.transfer_alone(
        engine, debit=w, credit=a, amount=D("3.00"), code="t", at=AT, idempotency_key=key
    )
    assert again == first
    with pytest.raises(errors.IdempotencyConflict):
        ledger.transfer_alone(
            engine, debit=w, credit=a, amount=D("3.01"), code="t", at=AT, idempotency_key=key
        )
    with engine.connect() as c:
        assert ledger.balance(c, a).credits_posted == D("3.00")


def test_a_late_instant_is_recorded_at_the_accounts_latest_entry(engine: Engine) -> None:
    name, w, a, _ = accounts(engine)
    later = AT + timedelta(hours=3)
    ledger.transfer_alone(engine, debit=w, credit=a, amount=D("1.00"), code="t", at=later)
    back = ledger.transfer_alone(engine, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)
    assert back.created_at == later
    with engine.connect() as c:
        assert ledger.verify(c, ledgers=[name]).ok


def _spied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What travels to the server: each libpq send-and-wait of the ledger's call (`wire._run`,
    one round trip however many messages it carries), every statement psycopg executes, and
    every COMMIT."""
    sent: list[str] = []
    run = wire._run
    execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def spy_run(driver: Any) -> list[Any]:
        sent.append("round trip")
        return run(driver)

    def spy_execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(self, query, *args, **kw)

    def spy_commit(self: psycopg.Connection[Any]) -> None:
        sent.append("COMMIT")
        commit(self)

    monkeypatch.setattr(wire, "_run", spy_run)
    monkeypatch.setattr(psycopg.Cursor, "execute", spy_execute)
    monkeypatch.setattr(psycopg.Connection, "commit", spy_commit)
    return sent


def test_one_round_trip_on_postgresql(
    engine: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message sent and answered: the prepared call, committed by the server as a
    statement of its own (no BEGIN before it, no COMMIT after); the server keeps the
    statement by name for the next call."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's one-round-trip path")
    name, w, a, _ = accounts(engine)
    # An engine as the service makes them (whose pool hands a connection out without a ping).
    alone = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    ledger.transfer_alone(alone, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)  # connects
    sent = _spied(monkeypatch)
    made = ledger.transfer_alone(alone, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)
    monkeypatch.undo()
    assert sent == ["round trip"]
    assert stored(engine, made.id) == made  # committed: another connection reads it
    with alone.connect() as c:
        names = c.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars()
        assert "ledger_transfer_one" in list(names)
        assert ledger.verify(c, ledgers=[name]).ok
    alone.dispose()


def test_in_a_transaction_begin_travels_with_the_call(
    engine: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`transfer` as the first statement of a caller's transaction: BEGIN and the call in one
    pipeline (one round trip), then the caller's COMMIT; the transfer belongs to the caller's
    transaction, so a rollback undoes it."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's pipelined path")
    name, w, a, _ = accounts(engine)
    with engine.begin() as c:  # the call prepared on the connection
        ledger.transfer(c, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)
    with engine.connect() as c:
        c.begin()
        sent = _spied(monkeypatch)
        undone = ledger.transfer(c, debit=w, credit=a, amount=D("2.00"), code="t", at=AT)
        monkeypatch.undo()
        assert sent == ["round trip"]
        c.rollback()
        sent = _spied(monkeypatch)
        with c.begin():
            kept = ledger.transfer(c, debit=w, credit=a, amount=D("3.00"), code="t", at=AT)
        monkeypatch.undo()
        assert sent == ["round trip", "COMMIT"]
    with engine.connect() as c:
        assert c.execute(select(transfers.c.id).where(transfers.c.id == undone.id)).first() is None
        assert ledger.balance(c, a).credits_posted == D("4.00")
        assert ledger.verify(c, ledgers=[name]).ok
    assert stored(engine, kept.id) == kept


def test_the_call_outlives_psycopg_dropping_every_prepared_statement(
    engine: Engine, backend: str
) -> None:
    """psycopg sends DEALLOCATE ALL on the rollback after any statement it prepared itself
    (`executemany` always prepares): the ledger's call is prepared again, even in the middle
    of a caller's transaction. A DEALLOCATE ALL psycopg does not see is met by preparing
    again where no work of the caller's is lost (a transaction of the call's own)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's prepared call")
    name, w, a, _ = accounts(engine)
    one = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)

    def prepared(c: Any) -> bool:
        names = c.exec_driver_sql("SELECT name FROM pg_prepared_statements").scalars()
        return "ledger_transfer_one" in list(names)

    with one.connect() as c:
        with c.begin():
            ledger.transfer(c, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)
        c.begin()
        c.connection.driver_connection.cursor().executemany("SELECT %s", [(1,), (2,)])
        c.rollback()
        assert not prepared(c)
        c.rollback()
        with c.begin():
            c.exec_driver_sql("SELECT 1")  # the caller's transaction is under way
            ledger.transfer(c, debit=w, credit=a, amount=D("2.00"), code="t", at=AT)
        with c.begin():
            c.exec_driver_sql("DEALLOCATE ALL")
    ledger.transfer_alone(one, debit=w, credit=a, amount=D("4.00"), code="t", at=AT)
    with one.connect() as c, c.begin():
        c.exec_driver_sql("DEALLOCATE ALL")
    with one.begin() as c:
        ledger.transfer(c, debit=w, credit=a, amount=D("8.00"), code="t", at=AT)
    with one.connect() as c:
        assert prepared(c)
        assert ledger.balance(c, a).credits_posted == D("15.00")
        assert ledger.verify(c, ledgers=[name]).ok
    one.dispose()
