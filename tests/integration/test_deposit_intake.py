"""The pieces a bank's batch of deposits is built from: list matching, the one-statement
update, rows a deposit names that can never be deleted, and two batches carrying the same
deposits at once (a bank's retry while the first is still running)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, StatementError

import ledger
from service.config import Settings
from service.flows import deposits
from service.flows import enrollments as enr
from service.flows.models import Deposit, Enrollment
from service.kit.db import (
    NEVER_PREPARE_ON_ITS_OWN,
    make_sessionmaker,
    run_in_transaction,
    session_scope,
    update_many,
)
from service.registry.models import Bank, Institution
from tests import factories

ENROLLMENTS = Enrollment.metadata.tables["enrollments"]
INSTITUTIONS = Institution.metadata.tables["institutions"]


def enrolled(engine: Engine, settings: Settings, n: int) -> tuple[str, str, list[str]]:
    """A bank, an institution with one course, and `n` enrollments awaiting 200.00 each;
    returns (bank id, escrow account, payment references)."""
    bank = factories.bank(engine)
    inst_id, _ = factories.institution(engine, bank.id)
    now = datetime.now(UTC)

    def work(s: Any) -> tuple[str, list[str]]:
        inst = s.get(Institution, inst_id)
        course = factories.file_maths_course(s, inst, now=now, sessions=20)
        refs = [
            enr.create(
                s,
                institution=inst,
                course_id=course.id,
                student_ref=f"s{k}",
                lessons=10,
                amount=Decimal("200.00"),
                now=now,
                settings=settings,
            ).enrollment.payment_reference
            for k in range(n)
        ]
        return inst.escrow_account_no, refs

    account, refs = run_in_transaction(make_sessionmaker(engine), work)
    return bank.id, account, refs


def send_at_once(
    engine: Engine, bank_id: str, items: list[deposits.DepositIn], *, copies: int
) -> list[deposits.Outcome]:
    """`copies` requests carrying the same batch at once, each in one transaction as a request
    runs (one try, no retry around it): every one must answer, and all with the same answer,
    which is returned."""
    sessions = make_sessionmaker(engine)
    start = threading.Barrier(copies)
    answers: list[list[deposits.Outcome]] = []
    failures: list[BaseException] = []

    def send() -> None:
        try:
            start.wait()
            with session_scope(sessions) as s:
                bank = s.get(Bank, bank_id)
                answers.append(
                    deposits.receive_many(s, bank=bank, items=items, now=datetime.now(UTC))
                )
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=send) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    assert len(answers) == copies
    assert all(a == answers[0] for a in answers[1:])
    return answers[0]


def test_one_of_matches_any_value_exactly(engine: Engine) -> None:
    """One array parameter on PostgreSQL, an IN list on SQLite: the same rows either way,
    whatever the values hold (quotes, commas, braces, NULL spelled out, Chinese)."""
    owners = ['a"b', "c,d", "{e}", "NULL", "f\\g", "学生 一", " space "]
    lg = f"lg-{datetime.now(UTC).timestamp()}"
    now = datetime.now(UTC)
    with engine.begin() as c:
        made = {
            o: ledger.open_account(c, ledger=lg, kind="prepaid", owner=o, at=now).id for o in owners
        }
        ledger.open_account(c, ledger=lg, kind="prepaid", owner="not asked", at=now)
    with engine.connect() as c:
        found = ledger.account_ids(c, [(lg, "prepaid", o) for o in owners])
        assert found == {(lg, "prepaid", o): made[o] for o in owners}
        # A key with no account is left out; a repeated key is answered once.
        keys = [(lg, "prepaid", owners[0]), (lg, "prepaid", owners[0]), (lg, "earned", owners[0])]
        assert ledger.account_ids(c, keys) == {(lg, "prepaid", owners[0]): made[owners[0]]}
        assert ledger.account_ids(c, []) == {}


def test_update_many_sets_each_row_and_refreshes_objects(engine: Engine) -> None:
    bank = factories.bank(engine)
    ids = [factories.institution(engine, bank.id)[0] for _ in range(3)]
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        held = s.get(Institution, ids[0])
        assert held is not None and held.status != "frozen"
        update_many(
            s,
            INSTITUTIONS,
            [{"id": ids[0], "status": "frozen"}, {"id": ids[1], "status": "closed"}],
        )
        assert held.status == "frozen"  # the object the session held was read again
    assert statuses(engine, ids) == ["frozen", "closed", "active"]
    with pytest.raises(LookupError), session_scope(sessions) as s:
        update_many(
            s,
            INSTITUTIONS,
            [{"id": ids[2], "status": "frozen"}, {"id": "nobody", "status": "frozen"}],
        )
    assert statuses(engine, ids) == ["frozen", "closed", "active"]  # nothing half-done


def statuses(engine: Engine, ids: list[str]) -> list[str]:
    with engine.connect() as c:
        got = dict(c.execute(select(INSTITUTIONS.c.id, INSTITUTIONS.c.status)).all())
    return [got[i] for i in ids]


@pytest.mark.parametrize("table", ["banks", "institutions", "enrollments"])
def test_rows_deposits_name_are_never_deleted(
    engine: Engine, settings: Settings, table: str
) -> None:
    """Deposits carry no foreign keys (a batch's thousand rows would pay three trigger
    queries each); what a key would guard, a named row deleted, the database refuses."""
    bank_id, _, refs = enrolled(engine, settings, 1)
    with engine.connect() as c:
        enrollment_id, inst_id = c.execute(
            select(ENROLLMENTS.c.id, ENROLLMENTS.c.institution_id).where(
                ENROLLMENTS.c.payment_reference == refs[0]
            )
        ).one()
    key = {"banks": bank_id, "institutions": inst_id, "enrollments": enrollment_id}[table]
    with pytest.raises(DBAPIError, match="never deleted"), engine.begin() as c:
        c.execute(text(f"DELETE FROM {table} WHERE id = :k"), {"k": key})
    with engine.connect() as c:
        left = c.execute(text(f"SELECT count(*) FROM {table} WHERE id = :k"), {"k": key})
        assert left.scalar() == 1


def test_two_batches_with_the_same_deposits_at_once_post_them_once(
    engine: Engine, settings: Settings, backend: str
) -> None:
    """A bank resends a batch while the first is still being written: the second waits for
    the enrollments the first has locked, then finds its deposits and answers them as
    replays — the same deposit ids, nothing posted twice, the books whole."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: there is no 'at once' to test")
    bank_id, account, refs = enrolled(engine, settings, 100)
    paid_at = datetime.now(UTC)
    items = [
        deposits.DepositIn(
            bank_txn_id=f"R-{k}",
            account_no=account,
            payment_reference=ref,
            amount=Decimal("200.00"),
            paid_at=paid_at,
        )
        for k, ref in enumerate(refs)
    ]
    answer = send_at_once(engine, bank_id, items, copies=4)
    assert all(isinstance(o, deposits.DepositAnswer) and o.status == "posted" for o in answer)
    with engine.connect() as c:
        rows = c.execute(select(Deposit.__table__).where(Deposit.bank_id == bank_id)).all()
        assert len(rows) == 100
        paid = c.execute(
            select(ENROLLMENTS.c.status, ENROLLMENTS.c.amount_paid).where(
                ENROLLMENTS.c.payment_reference.in_(refs)
            )
        ).all()
        assert set(paid) == {("active", Decimal("200.00"))}
        assert ledger.verify(c).ok
        assert ledger.trial_balance(c).balanced


def test_postgresql_plans_each_statement_for_its_parameters(engine: Engine, backend: str) -> None:
    """A generic plan made for one-element arrays turned a batch's replay lookup into a scan
    of every deposit of the bank; the service's statements are never prepared by psycopg on
    its own, so never planned generically (only the ledger's single-transfer call is, by
    name), and list parameters travel in binary."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's plan cache")
    with engine.connect() as c:
        driver: Any = c.connection.driver_connection
        assert driver.prepare_threshold == NEVER_PREPARE_ON_ITS_OWN
        for _ in range(20):
            c.exec_driver_sql("SELECT count(*) FROM deposits WHERE bank_id = %(b)s", {"b": "x"})
        prepared = c.exec_driver_sql("SELECT statement FROM pg_prepared_statements").all()
        assert not [s for (s,) in prepared if "deposits" in s]
        assert driver.adapters.get_dumper(list, "s").__name__ == "ListBinaryDumper"


def test_a_batch_finds_its_accounts_by_index_not_by_scanning(engine: Engine, backend: str) -> None:
    """With PostgreSQL's default random_page_cost a thousand primary-key probes looked dearer
    than a scan, so a batch's account update read and hashed the whole accounts table. The
    service's connections plan with a cost that fits data held in memory or on SSD."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's planner")
    from ledger.postings import _PG_ACCOUNTS, _account_params
    from ledger.schema import accounts

    lg = f"plan-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    rows = [
        {"id": f"acc_{lg}_{k:05d}", "ledger": lg, "kind": "prepaid", "owner": f"o{k}"}
        for k in range(10_000)
    ]
    with engine.begin() as c:
        c.execute(
            accounts.insert(),
            [{**r, "currency": "CNY", "created_at": now, "last_at": now} for r in rows],
        )
        c.exec_driver_sql("ANALYZE ledger_accounts")
    ids = [r["id"] for r in rows[::50]]  # 200 of them: with the default cost, a scan
    zero = Decimal("0.00")
    changes = [
        {"b_id": i, "b_dp": zero, "b_cp": zero, "b_dpend": zero, "b_cpend": zero, "b_seq": 0,
         "b_hash": "0" * 64, "b_at": now}
        for i in ids
    ]  # fmt: skip
    params = _account_params(changes)
    with engine.connect() as c:
        assert c.exec_driver_sql("SHOW random_page_cost").scalar() == "1.1"
        plan = "\n".join(r[0] for r in c.exec_driver_sql("EXPLAIN " + _PG_ACCOUNTS, params))
    assert "Index Scan using pk_ledger_accounts" in plan
    assert "Seq Scan on ledger_accounts" not in plan


def test_the_same_suspense_deposit_in_two_requests_at_once_is_answered_once(
    engine: Engine, settings: Settings, backend: str
) -> None:
    """Deposits that pay no enrollment take no enrollment lock, so two requests carrying them
    at once both try to write them: the second meets the first's row in the unique index,
    reads again and answers replays — not an error — in the request's own transaction."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: there is no 'at once' to test")
    bank_id, account, _ = enrolled(engine, settings, 1)
    paid_at = datetime.now(UTC)
    items = [
        deposits.DepositIn(
            bank_txn_id=f"U-{k}",
            account_no=account,
            payment_reference=f"NOSUCH{k}",
            amount=Decimal("99.00"),
            paid_at=paid_at,
        )
        for k in range(80)
    ]
    answer = send_at_once(engine, bank_id, items, copies=3)
    assert all(isinstance(o, deposits.DepositAnswer) and o.status == "suspense" for o in answer)
    with engine.connect() as c:
        rows = c.execute(select(Deposit.__table__).where(Deposit.bank_id == bank_id)).all()
        assert len(rows) == 80
        assert {r.reason for r in rows} == {"unknown_reference"}
        assert ledger.verify(c).ok
        assert ledger.trial_balance(c).balanced


def test_the_same_single_suspense_deposit_in_requests_at_once_is_answered_once(
    engine: Engine, settings: Settings, backend: str
) -> None:
    """A single deposit is received without a savepoint on PostgreSQL: its one row skips a row
    another request has just written (ON CONFLICT DO NOTHING), and it is read again, as a
    replay, with nothing of its own written. Repeated, so that the requests do meet."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: there is no 'at once' to test")
    bank_id, account, _ = enrolled(engine, settings, 1)
    paid_at = datetime.now(UTC)
    for k in range(6):
        item = deposits.DepositIn(
            bank_txn_id=f"ONE-{k}",
            account_no=account,
            payment_reference=f"NOSUCH-ONE{k}",
            amount=Decimal("99.00"),
            paid_at=paid_at,
        )
        (answer,) = send_at_once(engine, bank_id, [item], copies=4)
        assert isinstance(answer, deposits.DepositAnswer) and answer.status == "suspense"
    with engine.connect() as c:
        rows = c.execute(
            select(Deposit.__table__).where(
                Deposit.bank_id == bank_id, Deposit.bank_txn_id.like("ONE-%")
            )
        ).all()
        assert len(rows) == 6
        assert ledger.verify(c).ok
        assert ledger.trial_balance(c).balanced


def test_a_batch_counts_each_deposit_on_its_institution_s_beijing_day(
    engine: Engine, settings: Settings
) -> None:
    """A batch's day counters are summed in the flow by institution and arrival before the
    upsert: the same rows as counting each deposit alone — deposits received (paid or held
    in suspense), enrollments paid and what is owed to parents, on the Beijing day each
    arrived; a refused deposit counts nothing."""
    from service.flows.counters import InstitutionDay
    from service.kit.clock import SHANGHAI

    bank_id, account, refs = enrolled(engine, settings, 3)
    evening = datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI)
    midnight = datetime(2026, 11, 24, 0, 30, tzinfo=SHANGHAI)  # the next Beijing day

    def item(txn: str, ref: str, amount: str, to: str = account) -> deposits.DepositIn:
        return deposits.DepositIn(bank_txn_id=txn, account_no=to, payment_reference=ref,
                                  amount=Decimal(amount), paid_at=evening)  # fmt: skip

    items = [
        item("C-1", refs[0], "200.00"),  # posted, the 23rd
        item("C-2", "NOBODY", "11.00"),  # suspense, the 23rd
        item("C-3", refs[1], "200.00"),  # posted, the 24th
        item("C-4", refs[2], "150.00"),  # suspense (mismatch), the 24th
        item("C-5", refs[2], "1.00", to="NOT-OURS"),  # refused: counts nothing
    ]
    clocks = [evening, evening, midnight, midnight, midnight]

    def work(s: Any) -> list[deposits.Outcome]:
        bank = s.get(Bank, bank_id)
        return deposits.receive_many(s, bank=bank, items=items, now=midnight, received=clocks)

    out = run_in_transaction(make_sessionmaker(engine), work)
    assert [o.status if isinstance(o, deposits.DepositAnswer) else o.code for o in out] == [
        "posted", "suspense", "posted", "suspense", "foreign_account"
    ]  # fmt: skip
    with make_sessionmaker(engine)() as s:
        days = {
            d.day.isoformat(): (
                d.deposits_count,
                d.deposits_amount,
                d.enrollments_paid,
                d.prepaid_delta,
            )
            for d in s.scalars(
                select(InstitutionDay)
                .join(Institution, Institution.id == InstitutionDay.institution_id)
                .where(Institution.escrow_account_no == account)
            )
        }
    assert days == {
        "2026-11-23": (2, Decimal("211.00"), 1, Decimal("200.00")),
        "2026-11-24": (2, Decimal("350.00"), 1, Decimal("200.00")),
    }


def test_a_batch_s_payees_read_by_the_driver_are_the_ones_sqlalchemy_reads(
    engine: Engine, settings: Settings
) -> None:
    """Past `_BY_DRIVER` references the enrollments are fetched by the driver on PostgreSQL:
    each payee the same as read with SQLAlchemy's types (amounts, pay-by instants, None)."""
    _, _, refs = enrolled(engine, settings, deposits._BY_DRIVER + 6)
    beijing = timezone(timedelta(hours=8))
    with engine.begin() as c:
        for k, ref in enumerate(refs[:3]):
            c.execute(
                ENROLLMENTS.update()
                .where(ENROLLMENTS.c.payment_reference == ref)
                .values(pay_by=datetime(2026, 9, 1, 18, k, tzinfo=beijing))
            )
    with engine.connect() as c:
        driver = deposits._payees(c, set(refs))
        typed = {
            p.payment_reference: p
            for p in map(deposits._Payee._make, c.execute(deposits._PAYEE))
            if p.payment_reference in refs
        }
    assert driver == typed and len(driver) == len(refs)
    for ref, p in driver.items():
        assert type(p.amount_due) is Decimal and str(p.amount_due) == str(typed[ref].amount_due)
        assert (p.pay_by is None) == (ref not in refs[:3])


def test_update_many_still_refuses_a_float_among_the_amounts(
    engine: Engine, settings: Settings
) -> None:
    """Processed once per distinct value when the values are of one type: a float equal to
    an amount beside it is still refused, not taken for that amount."""
    _, _, refs = enrolled(engine, settings, 2)
    with engine.connect() as c:
        ids = [c.execute(select(ENROLLMENTS.c.id).where(ENROLLMENTS.c.payment_reference == r))
               .scalar_one() for r in refs]  # fmt: skip
    sessions = make_sessionmaker(engine)
    for amounts in ([Decimal("200.00"), 200.0], [200.0, Decimal("200.00")]):
        rows = [{"id": i, "amount_paid": a} for i, a in zip(ids, amounts, strict=True)]
        # SQLite's executemany wraps the TypeError the money type raises.
        with pytest.raises((TypeError, StatementError)), session_scope(sessions) as s:
            update_many(s, ENROLLMENTS, rows)
    with session_scope(sessions) as s:  # one type: each distinct amount checked and written
        update_many(s, ENROLLMENTS, [{"id": i, "amount_paid": Decimal("200.0")} for i in ids])
    with engine.connect() as c:
        paid = c.execute(select(ENROLLMENTS.c.amount_paid).where(ENROLLMENTS.c.id.in_(ids)))
        assert [str(v) for v in paid.scalars()] == ["200.00", "200.00"]
