"""`transfer_alone`: a transfer that is a database transaction of its own. On PostgreSQL one
round trip (the prepared call in autocommit: no BEGIN, no COMMIT); every guarantee of
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
from ledger import errors
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


def test_one_round_trip_on_postgresql(
    engine: Engine, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement sent, in autocommit (so no BEGIN before it and no COMMIT after), and
    prepared: the server keeps it by name for the next call."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's one-round-trip path")
    _, w, a, _ = accounts(engine)
    # An engine as the service makes them (whose pool hands a connection out without a ping).
    alone = make_engine(engine.url.render_as_string(hide_password=False))
    ledger.transfer_alone(alone, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)  # connects
    sent: list[tuple[str, bool, Any]] = []
    execute, commit = psycopg.Cursor.execute, psycopg.Connection.commit

    def spy_execute(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.append((str(query), self.connection.autocommit, kw.get("prepare")))
        return execute(self, query, *args, **kw)

    def spy_commit(self: psycopg.Connection[Any]) -> None:
        sent.append(("COMMIT", self.autocommit, None))
        commit(self)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy_execute)
    monkeypatch.setattr(psycopg.Connection, "commit", spy_commit)
    ledger.transfer_alone(alone, debit=w, credit=a, amount=D("1.00"), code="t", at=AT)
    monkeypatch.undo()
    assert len(sent) == 1, sent
    query, autocommit, prepare = sent[0]
    assert "ledger_transfer_one" in query and autocommit and prepare
    with alone.connect() as c:
        names = c.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars()
        assert any("ledger_transfer_one" in s for s in names)
    alone.dispose()
