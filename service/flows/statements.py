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
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import chart
from service.flows.models import Deposit, Instruction, Statement, StatementBreak
from service.kit.clock import end_of_local_day, start_of_local_day
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.models import Bank, Institution


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
    inst = session.scalar(
        select(Institution).where(
            Institution.bank_id == bank.id,
            or_(
                Institution.escrow_account_no == data.account_no,
                Institution.reserve_account_no == data.account_no,
            ),
        )
    )
    if inst is None:
        raise DomainError(
            "foreign_account",
            f"account {data.account_no} is not a supervised account at this bank",
        )
    cash_kind = "escrow_cash" if data.account_no == inst.escrow_account_no else "reserve_cash"
    day = data.statement_date.isoformat()
    previous = session.scalar(
        select(Statement).where(
            Statement.account_no == data.account_no,
            Statement.statement_date == day,
            Statement.request_hash == data.digest(),
        )
    )
    if previous is not None:  # the same statement again: the same answer
        return _reconciled(session, previous)

    start, end = start_of_local_day(data.statement_date), end_of_local_day(data.statement_date)
    deposits = {
        d.bank_txn_id: d
        for d in session.scalars(
            select(Deposit).where(Deposit.bank_id == bank.id, Deposit.account_no == data.account_no)
        )
        if d.bank_txn_id in {t.bank_txn_id for t in data.transactions} or start <= d.paid_at <= end
    }
    executed: dict[str | None, Instruction] = {
        i.result_bank_txn_id: i
        for i in session.scalars(
            select(Instruction).where(
                Instruction.bank_id == bank.id,
                Instruction.account_no == data.account_no,
                Instruction.status == "executed",
            )
        )
        if i.result_bank_txn_id in {t.bank_txn_id for t in data.transactions}
        or (i.executed_at is not None and start <= i.executed_at <= end)
    }

    breaks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for t in data.transactions:
        seen.add(t.bank_txn_id)
        ours = (
            deposits.get(t.bank_txn_id) if t.direction == "credit" else executed.get(t.bank_txn_id)
        )
        if ours is None:
            breaks.append(
                {
                    "kind": "missing_in_ledger",
                    "direction": t.direction,
                    "bank_txn_id": t.bank_txn_id,
                    "expected": None,
                    "actual": t.amount,
                }
            )
        elif ours.amount != t.amount:
            breaks.append(
                {
                    "kind": "amount_differs",
                    "direction": t.direction,
                    "bank_txn_id": t.bank_txn_id,
                    "expected": ours.amount,
                    "actual": t.amount,
                }
            )
    for txn, d in deposits.items():
        if txn not in seen and start <= d.paid_at <= end:
            breaks.append(
                {
                    "kind": "missing_in_statement",
                    "direction": "credit",
                    "bank_txn_id": txn,
                    "expected": d.amount,
                    "actual": None,
                }
            )
    for txn_or_none, i in executed.items():
        txn = str(txn_or_none)
        if txn not in seen and i.executed_at is not None and start <= i.executed_at <= end:
            breaks.append(
                {
                    "kind": "missing_in_statement",
                    "direction": "debit",
                    "bank_txn_id": txn,
                    "expected": i.amount,
                    "actual": None,
                }
            )
    conn = session.connection()
    cash = chart.institution_account(conn, inst.id, cash_kind)
    ours_balance = ledger.balance(conn, cash.id, as_of=min(end, now)).debit_balance
    if ours_balance != data.closing_balance:
        breaks.append(
            {
                "kind": "balance_differs",
                "direction": None,
                "bank_txn_id": None,
                "expected": ours_balance,
                "actual": data.closing_balance,
            }
        )

    stmt = Statement(
        id=new_id("stm"),
        bank_id=bank.id,
        institution_id=inst.id,
        account_no=data.account_no,
        statement_date=day,
        opening_balance=data.opening_balance,
        closing_balance=data.closing_balance,
        ledger_balance=ours_balance,
        request_hash=data.digest(),
        status="breaks" if breaks else "matched",
        received_at=now,
    )
    session.add(stmt)
    session.flush()
    session.add_all(
        StatementBreak(id=new_id("brk"), statement_id=stmt.id, institution_id=inst.id, at=now, **b)
        for b in breaks
    )
    session.flush()
    return _reconciled(session, stmt)


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
