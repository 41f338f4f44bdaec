"""A single new transfer takes PostgreSQL's one-round-trip path (`ledger_transfer_one`), whose
chain link is computed in SQL. These tests hold it to the Python definition: what it returns
is what it stored, `verify` recomputes the same hash for any fields, and a refusal leaves the
caller's transaction as usable as the general path does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

import ledger
from ledger import errors
from ledger.schema import transfers
from tests.integration.ledger.helpers import D, liability, new_ledger, world

AT = datetime(2026, 9, 1, tzinfo=UTC)

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\x1f"),
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    amount=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2),
    reference=st.none() | texts,
    key=st.none() | texts.filter(bool),
    pending=st.booleans(),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
    micro=st.integers(min_value=0, max_value=999_999),
)
def test_what_is_returned_is_what_is_stored_and_verifies(
    engine: Engine,
    amount: Decimal,
    reference: str | None,
    key: str | None,
    pending: bool,
    offset_minutes: int,
    micro: int,
) -> None:
    name = new_ledger()
    zone = timezone(timedelta(minutes=offset_minutes))
    at = (AT + timedelta(microseconds=micro)).astimezone(zone)
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        if pending:
            made = ledger.hold(
                c,
                debit=w.id,
                credit=a.id,
                amount=amount,
                code="deposit",
                at=at,
                expires_at=at + timedelta(days=1),
                reference=reference,
                idempotency_key=key and f"{name}{key}",
            )
        else:
            made = ledger.transfer(
                c,
                debit=w.id,
                credit=a.id,
                amount=amount,
                code="deposit",
                at=at,
                reference=reference,
                idempotency_key=key and f"{name}{key}",
            )
        stored = ledger.Transfer.from_row(
            c.execute(select(transfers).where(transfers.c.id == made.id)).one()
        )
        assert stored == made
        assert made.chain_seq == 1 and made.prev_hash == "0" * 64
        report = ledger.verify(c, ledgers=[name])
        assert report.ok, report.problems


def test_a_refusal_leaves_the_transaction_usable(engine: Engine) -> None:
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        b = liability(c, name, "b", AT)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("10.00"), code="t", at=AT)
        with pytest.raises(errors.ExceedsCredits):
            ledger.transfer(c, debit=a.id, credit=b.id, amount=D("10.01"), code="t", at=AT)
        with pytest.raises(errors.AccountNotFound):
            ledger.transfer(c, debit=a.id, credit="acc_missing", amount=D("1"), code="t", at=AT)
        # The same transaction goes on and commits what it did before and after.
        ledger.transfer(c, debit=a.id, credit=b.id, amount=D("10.00"), code="t", at=AT)
    with engine.connect() as c:
        assert ledger.balance(c, b.id).credits_posted == D("10.00")
        assert ledger.verify(c, ledgers=[name]).ok


def test_large_batches_store_what_they_return(engine: Engine) -> None:
    """Batches of 64 or more go through COPY on PostgreSQL: holds with expiries, references
    and keys in one batch, their resolutions in a second, every row as returned and verified."""
    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        owners = [liability(c, name, f"p{k}", AT) for k in range(40)]
        first = ledger.batch(
            c,
            [
                ledger.NewTransfer(
                    debit_account_id=w.id,
                    credit_account_id=owners[k % 40].id,
                    amount=D(k + 1) / 4,
                    code="deposit",
                    pending=k % 3 == 0,
                    expires_at=AT + timedelta(days=1) if k % 3 == 0 else None,
                    reference=f"参考 {k}" if k % 2 else None,
                    idempotency_key=f"{name}:{k}",
                )
                for k in range(120)
            ],
            at=AT,
        )
        holds = [t for t in first if t.kind == "pending"]
        second = ledger.batch(
            c,
            [
                ledger.Resolve(
                    pending_id=h.id,
                    action="post" if n % 2 else "void",
                    amount=D("0.25") if n % 4 == 1 else None,
                )
                for n, h in enumerate(holds)
            ]
            + [
                ledger.NewTransfer(
                    debit_account_id=owners[k].id,
                    credit_account_id=w.id,
                    amount=D("0.01"),
                    code="refund",
                )
                for k in range(30)
            ],
            at=AT + timedelta(hours=1),
        )
        assert len(second) >= 64
        for made in first + second:
            stored = ledger.Transfer.from_row(
                c.execute(select(transfers).where(transfers.c.id == made.id)).one()
            )
            assert stored == made
        report = ledger.verify(c, ledgers=[name])
        assert report.ok, report.problems
        assert report.entries_checked == len(first) + len(second)


def test_a_copy_error_is_raised_as_sqlalchemy_raises_every_database_error(
    engine: Engine, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    from sqlalchemy.exc import IntegrityError

    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        t = ledger.transfer(c, debit=w.id, credit=a.id, amount=D("1.00"), code="t", at=AT)
    row = {**t.__dict__, "chain_seq": t.chain_seq + 1}  # the same id again
    with pytest.raises(IntegrityError), engine.begin() as c:
        ledger.copy_rows(c, transfers, [[row[col.name] for col in transfers.columns]])


def test_locked_balances_hold_writers_off_until_the_commit(engine: Engine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite serialises every writer already")
    import threading
    import time

    name = new_ledger()
    with engine.begin() as c:
        w = world(c, name, AT)
        a = liability(c, name, "a", AT)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=D("5.00"), code="t", at=AT)
    waited: list[float] = []

    def writer() -> None:
        start = time.monotonic()
        with engine.begin() as c:
            ledger.transfer(c, debit=a.id, credit=w.id, amount=D("5.00"), code="t", at=AT)
        waited.append(time.monotonic() - start)

    with engine.begin() as c:
        seen = ledger.locked_balances(c, [a.id])[a.id]
        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.5)
        assert not waited  # the writer is still queued behind the lock
        assert ledger.balance(c, a.id) == seen
    t.join()
    assert waited and waited[0] >= 0.4
