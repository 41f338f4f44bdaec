"""Daily reconciliation: the bank's statement of a supervised account against the ledger.

Credits are matched to deposits and debits to executed instructions by `bank_txn_id`; what the
ledger expected that day but the statement lacks is `missing_in_statement`; what the statement
has but the ledger does not is `missing_in_ledger` (a debit of that kind is money that left
escrow with no instruction); and the closing balance is compared with the ledger's escrow at
the end of the statement's day (Beijing time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Executable, Select, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import chart
from service.flows.models import Deposit, Instruction, LatestStatement, Statement, StatementBreak
from service.kit.clock import end_of_local_day, start_of_local_day
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Bank, Institution, Regulator


@dataclass(frozen=True)
class Line:
    bank_txn_id: str
    direction: str  # credit | debit
    amount: Decimal
    booked_at: datetime


@dataclass(frozen=True)
class StatementIn:
    account_no: str
    statement_date: date
    opening_balance: Decimal
    closing_balance: Decimal
    transactions: tuple[Line, ...]

    def digest(self) -> str:
        body = [
            self.account_no,
            self.statement_date.isoformat(),
            f"{self.opening_balance:.2f}",
            f"{self.closing_balance:.2f}",
            [
                [t.bank_txn_id, t.direction, f"{t.amount:.2f}", t.booked_at.isoformat()]
                for t in self.transactions
            ],
        ]
        return hashlib.sha256(json.dumps(body).encode()).hexdigest()


@dataclass(frozen=True)
class Reconciled:
    """A statement as reconciled, and the breaks found in it (none: `matched`)."""

    statement: Statement
    breaks: list[StatementBreak]


def reconcile(session: Session, *, bank: Bank, data: StatementIn, now: datetime) -> Reconciled:
    """Match a bank's statement of one account and day against the ledger: each line against
    the deposit or executed instruction with its bank_txn_id, the day's deposits and payments
    against the lines, the closing balance against the ledger's at the day's end. Only the
    day's rows are read, by index, whatever the account's history. The same statement again
    gets the same answer."""
    inst = _supervised(session, bank, data.account_no)
    previous = session.scalar(
        select(Statement).where(
            Statement.account_no == data.account_no,
            Statement.statement_date == data.statement_date.isoformat(),
            Statement.request_hash == data.digest(),
        )
    )
    if previous is not None:
        return _reconciled(session, previous)
    start, end = start_of_local_day(data.statement_date), end_of_local_day(data.statement_date)
    txns = {t.bank_txn_id for t in data.transactions}
    deposits = _deposits(session, bank, data.account_no, txns, start, end)
    executed = _executed(session, bank, data.account_no, txns, start, end)
    breaks = _line_breaks(data, deposits, executed)
    breaks += _unreported(deposits, executed, txns, start, end)
    cash_kind = "escrow_cash" if data.account_no == inst.escrow_account_no else "reserve_cash"
    conn = session.connection()
    cash = chart.institution_account(conn, inst.id, cash_kind)
    ours = ledger.balance(conn, cash.id, as_of=min(end, now)).debit_balance
    if ours != data.closing_balance:
        breaks.append(_break("balance_differs", None, None, ours, data.closing_balance))
    return _store(session, bank=bank, inst=inst, data=data, ours=ours, breaks=breaks, now=now)


def _supervised(session: Session, bank: Bank, account_no: str) -> Institution:
    inst = session.scalar(
        select(Institution).where(
            Institution.bank_id == bank.id,
            or_(
                Institution.escrow_account_no == account_no,
                Institution.reserve_account_no == account_no,
            ),
        )
    )
    if inst is None:
        raise DomainError(
            "foreign_account", f"account {account_no} is not a supervised account at this bank"
        )
    return inst


def _deposits(
    session: Session, bank: Bank, account_no: str, txns: set[str], start: datetime, end: datetime
) -> dict[str, Deposit]:
    """The deposits a statement's lines name (by the unique index on the bank's txn ids), and
    those paid into the account on its day (by the account's index on paid_at)."""
    conn = session.connection()
    named = select(Deposit).where(
        Deposit.bank_id == bank.id, ledger.one_of(conn, Deposit.bank_txn_id, txns)
    )
    of_day = select(Deposit).where(
        Deposit.account_no == account_no, Deposit.paid_at >= start, Deposit.paid_at <= end
    )
    found = list(session.scalars(named)) if txns else []
    found += session.scalars(of_day)
    return {d.bank_txn_id: d for d in found if d.account_no == account_no}


def _executed(
    session: Session, bank: Bank, account_no: str, txns: set[str], start: datetime, end: datetime
) -> dict[str, Instruction]:
    """Executed instructions the lines name, and those executed from the account on its day."""
    conn = session.connection()
    done = [Instruction.status == "executed", Instruction.account_no == account_no]
    named = select(Instruction).where(
        Instruction.bank_id == bank.id,
        ledger.one_of(conn, Instruction.result_bank_txn_id, txns),
        *done,
    )
    of_day = select(Instruction).where(
        Instruction.executed_at >= start, Instruction.executed_at <= end, *done
    )
    found = list(session.scalars(named)) if txns else []
    found += session.scalars(of_day)
    return {str(i.result_bank_txn_id): i for i in found if i.result_bank_txn_id}


def _break(
    kind: str,
    direction: str | None,
    txn: str | None,
    expected: Decimal | None,
    actual: Decimal | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "direction": direction,
        "bank_txn_id": txn,
        "expected": expected,
        "actual": actual,
    }


def _line_breaks(
    data: StatementIn, deposits: dict[str, Deposit], executed: dict[str, Instruction]
) -> list[dict[str, Any]]:
    """Lines the ledger does not know, or knows with another amount."""
    out = []
    for t in data.transactions:
        mine = deposits if t.direction == "credit" else executed
        ours = mine.get(t.bank_txn_id)
        if ours is None:
            out.append(_break("missing_in_ledger", t.direction, t.bank_txn_id, None, t.amount))
        elif ours.amount != t.amount:
            out.append(_break("amount_differs", t.direction, t.bank_txn_id, ours.amount, t.amount))
    return out


def _unreported(
    deposits: dict[str, Deposit],
    executed: dict[str, Instruction],
    txns: set[str],
    start: datetime,
    end: datetime,
) -> list[dict[str, Any]]:
    """The day's deposits and payments the statement does not show."""
    out = [
        _break("missing_in_statement", "credit", txn, d.amount, None)
        for txn, d in deposits.items()
        if txn not in txns and start <= d.paid_at <= end
    ]
    out += [
        _break("missing_in_statement", "debit", txn, i.amount, None)
        for txn, i in executed.items()
        if txn not in txns and i.executed_at is not None and start <= i.executed_at <= end
    ]
    return out


def _store(
    session: Session,
    *,
    bank: Bank,
    inst: Institution,
    data: StatementIn,
    ours: Decimal,
    breaks: list[dict[str, Any]],
    now: datetime,
) -> Reconciled:
    stmt = Statement(
        id=new_id("stm"),
        bank_id=bank.id,
        institution_id=inst.id,
        account_no=data.account_no,
        statement_date=data.statement_date.isoformat(),
        opening_balance=data.opening_balance,
        closing_balance=data.closing_balance,
        ledger_balance=ours,
        request_hash=data.digest(),
        status="breaks" if breaks else "matched",
        received_at=now,
    )
    session.add(stmt)
    session.flush()
    _keep_latest(session, stmt)
    rows = [
        StatementBreak(id=new_id("brk"), statement_id=stmt.id, institution_id=inst.id, at=now, **b)
        for b in breaks
    ]
    session.add_all(rows)
    session.flush()
    return Reconciled(stmt, sorted(rows, key=lambda b: b.id))


def _keep_latest(session: Session, stmt: Statement) -> None:
    """The account's latest statement, replaced only by one of a later bank day (or of the
    same day, arrived later): a late statement of an earlier day does not."""
    row = {"account_no": stmt.account_no, "institution_id": stmt.institution_id,
           "statement_id": stmt.id, "statement_date": stmt.statement_date,
           "closing_balance": stmt.closing_balance, "received_at": stmt.received_at}  # fmt: skip
    session.execute(_latest_upsert(session.get_bind().dialect.name), row)


@cache
def _latest_upsert(dialect_name: str) -> Executable:
    """`_keep_latest`'s upsert, built once: its `excluded` alias alone cost more to build
    than the statement takes to run."""
    table = LatestStatement.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    fields = ("institution_id", "statement_id", "statement_date", "closing_balance",
              "received_at")  # fmt: skip
    insert = dialect.insert(table)
    later = or_(
        table.c.statement_date < insert.excluded.statement_date,
        and_(table.c.statement_date == insert.excluded.statement_date,
             table.c.received_at <= insert.excluded.received_at),
    )  # fmt: skip
    upsert: Executable = insert.on_conflict_do_update(
        index_elements=["account_no"], set_={k: insert.excluded[k] for k in fields}, where=later
    )
    return upsert


def _reconciled(session: Session, stmt: Statement) -> Reconciled:
    rows = session.scalars(
        select(StatementBreak)
        .where(StatementBreak.statement_id == stmt.id)
        .order_by(StatementBreak.id)
    )
    return Reconciled(stmt, list(rows))


def listed(
    session: Session,
    *,
    institutions: Select[tuple[str]],
    status: str | None,
    institution_id: str | None,
    paging: Paging,
) -> Paged[Reconciled]:
    """Statements of these institutions, each with its breaks (read for the whole page at
    once), a page at a time."""
    stmt = select(Statement).where(Statement.institution_id.in_(institutions))
    if status is not None:
        stmt = stmt.where(Statement.status == status)
    if institution_id is not None:
        stmt = stmt.where(Statement.institution_id == institution_id)
    page = page_rows(session, stmt, Statement.id, paging)
    found: dict[str, list[StatementBreak]] = {s.id: [] for s in page.rows}
    if found:
        for b in session.scalars(
            select(StatementBreak)
            .where(StatementBreak.statement_id.in_(list(found)))
            .order_by(StatementBreak.id)
        ):
            found[b.statement_id].append(b)
    return Paged([Reconciled(s, found[s.id]) for s in page.rows], page.next_after)


def review(
    session: Session, *, regulator: Regulator, statement_id: str, now: datetime
) -> Statement:
    """A regulator marks a statement of their region reviewed. Audited."""
    stmt = session.get(Statement, statement_id, with_for_update=True)
    if stmt is None:
        raise DomainError("not_found", f"no statement {statement_id}")
    inst = in_regulator_scope(session, regulator, stmt.institution_id)
    stmt.reviewed_at, stmt.reviewed_by = now, regulator.id
    audit(session, actor=f"regulator:{regulator.id}", action="statement:review",
          subject=stmt.id, detail={"status": stmt.status}, now=now,
          institution=inst)  # fmt: skip
    session.flush()
    return stmt
