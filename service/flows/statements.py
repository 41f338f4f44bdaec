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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    Table,
    and_,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import ledger
from ledger.types import Money
from service.errors import DomainError
from service.flows.models import Deposit, Instruction, LatestStatement, Statement, StatementBreak
from service.kit.clock import end_of_local_day, start_of_local_day
from service.kit.db import insert_many
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Bank, Institution, Regulator


@dataclass(frozen=True, kw_only=True)
class Line:
    bank_txn_id: str
    direction: str  # credit | debit
    amount: Decimal
    booked_at: datetime


@dataclass(frozen=True, kw_only=True)
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


Key = tuple[str, str, str]  # account, bank day, content digest


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """A statement as reconciled, and the breaks found in it (none: `matched`)."""

    statement: Statement
    breaks: list[StatementBreak]


def reconcile(session: Session, *, bank: Bank, data: StatementIn, now: datetime) -> Reconciled:
    """Match a bank's statement of one account and day against the ledger (`reconcile_many`
    of one)."""
    out = reconcile_many(session, bank=bank, items=[data], now=now)[0]
    if isinstance(out, DomainError):
        raise out
    return out


def reconcile_many(
    session: Session, *, bank: Bank, items: Sequence[StatementIn], now: datetime
) -> list[Reconciled | DomainError]:
    """Match a bank's statements (its daily file: one per supervised account) against the
    ledger: each line against the deposit or executed instruction with its bank_txn_id, the
    day's deposits and payments against the lines, the closing balance against the ledger's
    at the day's end. Only the statements' days are read, by index, whatever the accounts'
    history, a day's accounts at once. The same statement again gets the same answer; one
    for an account that is not this bank's is refused in its slot."""
    insts = _supervised(session, bank, {d.account_no for d in items})
    known = _known(session, items)
    out: list[Reconciled | DomainError | None] = [None] * len(items)
    fresh: dict[Key, list[int]] = {}
    for n, d in enumerate(items):
        key = _key(d)
        if d.account_no not in insts:
            out[n] = DomainError(
                "foreign_account",
                f"account {d.account_no} is not a supervised account at this bank",
            )
        elif key in known:
            out[n] = known[key]
        else:
            fresh.setdefault(key, []).append(n)
    firsts = [items[ns[0]] for ns in fresh.values()]
    for ns, done in zip(fresh.values(), _match(session, bank, insts, firsts, now), strict=True):
        for n in ns:
            out[n] = done
    return [r for r in out if r is not None]


def _key(d: StatementIn) -> Key:
    return (d.account_no, d.statement_date.isoformat(), d.digest())


def _supervised(session: Session, bank: Bank, account_nos: set[str]) -> dict[str, Institution]:
    """The bank's institutions by the supervised account numbers named (escrow or reserve)."""
    conn = session.connection()
    found: dict[str, Institution] = {}
    for inst in session.scalars(
        select(Institution).where(
            Institution.bank_id == bank.id,
            or_(
                ledger.one_of(conn, Institution.escrow_account_no, account_nos),
                ledger.one_of(conn, Institution.reserve_account_no, account_nos),
            ),
        )
    ):
        for account in (inst.escrow_account_no, inst.reserve_account_no):
            if account in account_nos:
                found[account] = inst
    return found


def _known(
    session: Session, items: Sequence[StatementIn]
) -> dict[tuple[str, str, str], Reconciled]:
    """Statements received before with the very same content: answered again as they were.
    Looked up by account and bank day (the content is of that day), so the read does not
    grow with the accounts' history."""
    if not items:
        return {}
    conn = session.connection()
    hashes = {d.digest() for d in items}
    rows = list(
        session.scalars(
            select(Statement).where(
                ledger.one_of(conn, Statement.account_no, {d.account_no for d in items}),
                ledger.one_of(conn, Statement.statement_date,
                              {d.statement_date.isoformat() for d in items}),
                ledger.one_of(conn, Statement.request_hash, hashes),
            )
        )
    )  # fmt: skip
    breaks = _breaks_of(session, [r.id for r in rows])
    return {
        (r.account_no, r.statement_date, r.request_hash): Reconciled(
            statement=r, breaks=breaks.get(r.id, [])
        )
        for r in rows
    }


def _breaks_of(session: Session, statement_ids: list[str]) -> dict[str, list[StatementBreak]]:
    found: dict[str, list[StatementBreak]] = {}
    if statement_ids:
        conn = session.connection()
        for b in session.scalars(
            select(StatementBreak)
            .where(ledger.one_of(conn, StatementBreak.statement_id, statement_ids))
            .order_by(StatementBreak.id)
        ):
            found.setdefault(b.statement_id, []).append(b)
    return found


def _match(
    session: Session,
    bank: Bank,
    insts: dict[str, Institution],
    items: list[StatementIn],
    now: datetime,
) -> list[Reconciled]:
    """Statements new to the service, matched a bank day at a time and stored together."""
    by_day: dict[date, list[int]] = {}
    for n, d in enumerate(items):
        by_day.setdefault(d.statement_date, []).append(n)
    found: list[tuple[StatementIn, Decimal, list[dict[str, Any]]]] = []
    order: list[int] = []
    for day, ns in by_day.items():
        day_items = [items[n] for n in ns]
        found += _match_day(session, bank, insts, day, day_items, now)
        order += ns
    stored = _store(session, bank=bank, insts=insts, found=found, now=now)
    out: list[Reconciled | None] = [None] * len(items)
    for n, r in zip(order, stored, strict=True):
        out[n] = r
    return [r for r in out if r is not None]


def _match_day(
    session: Session,
    bank: Bank,
    insts: dict[str, Institution],
    day: date,
    items: list[StatementIn],
    now: datetime,
) -> list[tuple[StatementIn, Decimal, list[dict[str, Any]]]]:
    """One bank day's statements: the rows they name or that fall on the day, for all their
    accounts at once, and each account's ledger balance at the day's end."""
    start, end = start_of_local_day(day), end_of_local_day(day)
    accounts = {d.account_no for d in items}
    txns = {t.bank_txn_id for d in items for t in d.transactions}
    deposits = _deposits(session, bank, accounts, txns, start, end)
    executed = _executed(session, bank, accounts, txns, start, end)
    ours = _ledger_cash(session, insts, accounts, as_of=min(end, now))
    out = []
    for d in items:
        mine_d = deposits.get(d.account_no, {})
        mine_x = executed.get(d.account_no, {})
        named = {t.bank_txn_id for t in d.transactions}
        breaks = _line_breaks(d, mine_d, mine_x)
        breaks += _unreported(mine_d, mine_x, named, start, end)
        balance = ours[d.account_no]
        if balance != d.closing_balance:
            breaks.append(_break("balance_differs", None, None, balance, d.closing_balance))
        out.append((d, balance, breaks))
    return out


def _ledger_cash(
    session: Session, insts: dict[str, Institution], accounts: set[str], *, as_of: datetime
) -> dict[str, Decimal]:
    """The ledger's cash in each supervised account (escrow or reserve) at an instant."""
    conn = session.connection()
    keys = {}
    for account in accounts:
        inst = insts[account]
        kind = "escrow_cash" if account == inst.escrow_account_no else "reserve_cash"
        keys[account] = (inst.id, kind, inst.id)
    ids = ledger.account_ids(conn, set(keys.values()))
    missing = [k for k in keys.values() if k not in ids]
    if missing:
        raise ledger.LedgerCorrupted(f"institution {missing[0][0]} has no {missing[0][1]} account")
    figures = ledger.balances(conn, list(ids.values()), as_of=as_of)
    return {account: figures[ids[key]].debit_balance for account, key in keys.items()}


def _deposits(
    session: Session,
    bank: Bank,
    accounts: set[str],
    txns: set[str],
    start: datetime,
    end: datetime,
) -> dict[str, dict[str, Deposit]]:
    """The deposits the statements' lines name (by the unique index on the bank's txn ids),
    and those paid into the accounts on the day (by the account's index on paid_at), by
    account and bank_txn_id."""
    conn = session.connection()
    named = select(Deposit).where(
        Deposit.bank_id == bank.id, ledger.one_of(conn, Deposit.bank_txn_id, txns)
    )
    of_day = select(Deposit).where(
        ledger.one_of(conn, Deposit.account_no, accounts),
        Deposit.paid_at >= start,
        Deposit.paid_at <= end,
    )
    found = list(session.scalars(named)) if txns else []
    found += session.scalars(of_day)
    out: dict[str, dict[str, Deposit]] = {}
    for d in found:
        if d.account_no in accounts:
            out.setdefault(d.account_no, {})[d.bank_txn_id] = d
    return out


def _executed(
    session: Session,
    bank: Bank,
    accounts: set[str],
    txns: set[str],
    start: datetime,
    end: datetime,
) -> dict[str, dict[str, Instruction]]:
    """Executed instructions the lines name, and those executed from the accounts on the day,
    by account and the bank's txn id."""
    conn = session.connection()
    done = [Instruction.status == "executed", ledger.one_of(conn, Instruction.account_no, accounts)]
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
    out: dict[str, dict[str, Instruction]] = {}
    for i in found:
        if i.result_bank_txn_id:
            out.setdefault(i.account_no, {})[str(i.result_bank_txn_id)] = i
    return out


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
    insts: dict[str, Institution],
    found: list[tuple[StatementIn, Decimal, list[dict[str, Any]]]],
    now: datetime,
) -> list[Reconciled]:
    """The statements and their breaks, written together; each account's latest kept."""
    out = []
    for data, ours, breaks in found:
        inst = insts[data.account_no]
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
        rows = [
            StatementBreak(
                id=new_id("brk"), statement_id=stmt.id, institution_id=inst.id, at=now, **b
            )
            for b in breaks
        ]
        out.append(Reconciled(statement=stmt, breaks=sorted(rows, key=lambda b: b.id)))
    # Written as rows, not flushed as objects (a day's file is a statement per account); the
    # objects returned are what was written, for reading: none is changed once stored.
    insert_many(session, _STATEMENTS, [_row(_STATEMENTS, r.statement) for r in out])
    insert_many(session, _BREAKS, [_row(_BREAKS, b) for r in out for b in r.breaks])
    _keep_latest(session, [r.statement for r in out])
    return out


_STATEMENTS = Statement.metadata.tables[Statement.__tablename__]
_BREAKS = StatementBreak.metadata.tables[StatementBreak.__tablename__]


def _row(table: Table, obj: Statement | StatementBreak) -> dict[str, Any]:
    return {c.name: getattr(obj, c.name) for c in table.columns}


def _keep_latest(session: Session, stmts: list[Statement]) -> None:
    """Each account's latest statement, replaced only by one of a later bank day (or of the
    same day, arrived later): a late statement of an earlier day does not. One row per
    account (an upsert may not touch a row twice)."""
    latest: dict[str, Statement] = {}
    for s in stmts:
        held = latest.get(s.account_no)
        if held is None or (held.statement_date, held.received_at) <= (
            s.statement_date,
            s.received_at,
        ):
            latest[s.account_no] = s
    rows = [
        {"account_no": s.account_no, "institution_id": s.institution_id, "statement_id": s.id,
         "statement_date": s.statement_date, "closing_balance": s.closing_balance,
         "received_at": s.received_at}
        for s in latest.values()
    ]  # fmt: skip
    if rows:
        session.execute(_latest_upsert(session.get_bind().dialect.name), rows)


@cache
def _latest_upsert(dialect_name: str) -> Executable:
    """`_keep_latest`'s upsert, built and compiled once: its `excluded` alias alone cost
    more to build than the statement takes to run."""
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
    upsert = insert.on_conflict_do_update(
        index_elements=["account_no"], set_={k: insert.excluded[k] for k in fields}, where=later
    )
    return ledger.prebuilt(upsert, dialect_name)


def needs_review() -> ColumnElement[bool]:
    """A statement whose breaks no regulator has reviewed yet: the one meaning of an open
    reconciliation item, whatever day it is of (the overview counts them, the reconciliation
    page and the API list them)."""
    return and_(Statement.status == "breaks", Statement.reviewed_at.is_(None))


def break_amount() -> ColumnElement[Decimal]:
    """How much a break is about: the difference where both sides have a figure (a balance
    or an amount that differs), else the one figure there is (an item only one side has)."""
    m = Money()
    return type_coerce(
        func.coalesce(
            func.abs(StatementBreak.actual - StatementBreak.expected),
            StatementBreak.actual,
            StatementBreak.expected,
        ),
        m,
    )


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
    if status == "unreviewed":
        stmt = stmt.where(needs_review())
    elif status is not None:
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
    return Paged(
        rows=[Reconciled(statement=s, breaks=found[s.id]) for s in page.rows],
        next_after=page.next_after,
    )


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
