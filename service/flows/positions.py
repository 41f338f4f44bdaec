"""Money under supervision, for many institutions at once: what lists sort by and overviews
sum, as SQL the database aggregates (one pass over the institutions' few own accounts), not a
query per institution.

What parents are owed is read here as escrow − earned − suspense: the ledger keeps
escrow = prepaid + earned + suspense by construction (every transfer into or out of escrow
cash has one of those on its other side), so the sum over a million prepaid accounts is never
needed.

This module is the one valuation of an institution every caller reads: `valuations` (one or
many institutions, now or as of a past instant: the API, the institution's file, the parent's
page, the risk facts) and `per_institution` (the same figures as SQL, for lists that sort by
them) and `by_district` (summed, for overviews and the sweep's district days). Coverage has one
definition, `coverage`: the bank's word over the ledger's escrow, of the institutions whose
bank has reported; one that has not is counted apart (`Position.unreported`), never as ¥0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Select, Subquery, and_, func, literal, select, type_coerce
from sqlalchemy.orm import Session

import ledger
from ledger.types import Money
from service.flows.models import LatestStatement, Statement
from service.registry.models import Institution

ZERO = Decimal("0.00")


ACCOUNTS = {  # a position: its account kind, and the side its balance is read from
    "escrow": ("escrow_cash", "debit_balance"),
    "earned": ("earned", "credit_balance"),
    "suspense": ("suspense", "credit_balance"),
    "reserve": ("reserve", "credit_balance"),
}


def coverage(bank_balance: Decimal | None, escrow: Decimal) -> Decimal | None:
    """The bank's balance over the ledger's escrow (1.00: all of it is there); None when the
    bank has not reported (nothing to compare) or the ledger holds nothing."""
    if bank_balance is None or not escrow:
        return None
    return (bank_balance / escrow).quantize(Decimal("0.0001"))


@dataclass(frozen=True, kw_only=True)
class Valuation:
    """What one institution holds and owes: the ledger's figures and the bank's last word."""

    institution_id: str
    escrow: Decimal  # cash the ledger says is in the supervised account
    owed: Decimal  # to parents, for lessons not delivered (the ledger's prepaid)
    earned: Decimal  # to the institution, delivered and not released
    suspense: Decimal  # cash that matches no enrollment
    reserve: Decimal  # the risk reserve held (reserve mode)
    bank_balance: Decimal | None  # the escrow account's latest statement; None: none yet
    bank_day: date | None  # that statement's bank day

    @property
    def coverage(self) -> Decimal | None:
        return coverage(self.bank_balance, self.escrow)


def valuations(
    conn: Connection, institution_ids: Sequence[str], *, as_of: datetime | None = None
) -> dict[str, Valuation]:
    """The valuation of each institution named, in a fixed number of reads whatever their
    number (a page of a list is not one query per row). With `as_of`, as it stood then: the
    ledger's balances at that instant and the latest statement received by it."""
    ids = list(dict.fromkeys(institution_ids))
    if not ids:
        return {}
    if as_of is None:
        return _now(conn, ids)
    return _as_of(conn, ids, as_of)


def valuation(conn: Connection, institution_id: str, *, as_of: datetime | None = None) -> Valuation:
    return valuations(conn, [institution_id], as_of=as_of)[institution_id]


def _now(conn: Connection, ids: list[str]) -> dict[str, Valuation]:
    pos = per_institution()
    rows = conn.execute(select(pos).where(ledger.one_of(conn, pos.c.institution_id, ids)))
    return {
        r.institution_id: Valuation(
            institution_id=r.institution_id, escrow=r.escrow, owed=r.owed, earned=r.earned,
            suspense=r.suspense, reserve=r.reserve, bank_balance=r.bank_balance,
            bank_day=_day(r.bank_day),
        )
        for r in rows
    }  # fmt: skip


def _as_of(conn: Connection, ids: list[str], as_of: datetime) -> dict[str, Valuation]:
    keys = {(i, kind, i): (i, name) for i in ids for name, (kind, _side) in ACCOUNTS.items()}
    found = ledger.account_ids(conn, list(keys))
    held = ledger.balances(conn, list(found.values()), as_of=as_of)
    v: dict[str, dict[str, Decimal]] = {i: {} for i in ids}
    for key, account_id in found.items():
        inst, name = keys[key]
        b = held.get(account_id, ledger.Balance())
        v[inst][name] = b.debit_balance if name == "escrow" else b.credit_balance
    banks = _statements_by(conn, ids, as_of)
    out = {}
    for i in ids:
        x = {name: v[i].get(name, ZERO) for name in ACCOUNTS}
        bank, day = banks.get(i, (None, None))
        out[i] = Valuation(
            institution_id=i, escrow=x["escrow"], owed=x["escrow"] - x["earned"] - x["suspense"],
            earned=x["earned"], suspense=x["suspense"], reserve=x["reserve"], bank_balance=bank,
            bank_day=day,
        )  # fmt: skip
    return out


def _statements_by(
    conn: Connection, ids: list[str], as_of: datetime
) -> dict[str, tuple[Decimal, date | None]]:
    """Each institution's latest escrow statement received by `as_of` (by bank day, then
    arrival), as the risk facts choose it."""
    latest_id = (
        select(Statement.id)
        .where(Statement.account_no == Institution.escrow_account_no,
               Statement.received_at <= as_of)
        .order_by(Statement.statement_date.desc(), Statement.received_at.desc())
        .limit(1)
        .correlate(Institution)
        .scalar_subquery()
    )  # fmt: skip
    rows = conn.execute(
        select(Institution.id, Statement.closing_balance, Statement.statement_date)
        .join(Statement, Statement.id == latest_id)
        .where(ledger.one_of(conn, Institution.id, ids))
    )
    return {i: (bank, _day(day)) for i, bank, day in rows}


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value is not None else None


def per_institution() -> Subquery:
    """Columns `institution_id`, `escrow`, `earned`, `suspense`, `reserve`, `owed`,
    `bank_balance` and `bank_day` (the latest statement's, or null): each institution's own
    accounts joined by natural key (one of each kind, owned by the institution), no aggregate."""
    m = Money()
    zero = literal(0, m)
    joined: Any = Institution.__table__
    values = {}
    for name, (kind, side) in ACCOUNTS.items():
        acc = ledger.kind_accounts(kind).subquery(f"acc_{name}")
        joined = joined.outerjoin(
            acc, and_(acc.c.ledger == Institution.id, acc.c.owner == Institution.id)
        )
        values[name] = func.coalesce(acc.c[side], zero)
    joined = joined.outerjoin(
        LatestStatement, LatestStatement.account_no == Institution.escrow_account_no
    )
    owed = values["escrow"] - values["earned"] - values["suspense"]
    return (
        select(
            Institution.id.label("institution_id"),
            *(type_coerce(v, m).label(k) for k, v in values.items()),
            type_coerce(owed, m).label("owed"),
            LatestStatement.closing_balance.label("bank_balance"),
            LatestStatement.statement_date.label("bank_day"),
        )
        .select_from(joined)
        .subquery("positions")
    )


@dataclass(frozen=True, kw_only=True)
class Position:
    escrow: Decimal = ZERO  # cash the ledger says is in the supervised accounts
    bank_balance: Decimal = ZERO  # what the banks' latest statements say
    owed: Decimal = ZERO  # to parents, for lessons not delivered
    earned: Decimal = ZERO  # to the institutions, delivered and not released
    suspense: Decimal = ZERO  # cash that matches no enrollment
    reserve: Decimal = ZERO  # risk reserves held
    institutions: int = 0
    with_statement: int = 0  # how many have a bank statement at all
    escrow_reported: Decimal = ZERO  # the ledger's escrow of those with a statement

    def __add__(self, o: Position) -> Position:
        return Position(
            **{f.name: getattr(self, f.name) + getattr(o, f.name) for f in fields(self)}
        )

    @property
    def coverage(self) -> Decimal | None:
        """`coverage` of the institutions whose bank has reported: one with no statement yet
        is not counted as holding ¥0 (the list shows it as not reported; `unreported`)."""
        if not self.with_statement:
            return None
        return coverage(self.bank_balance, self.escrow_reported)

    @property
    def gap(self) -> Decimal:
        """What the reporting banks hold less than the ledger says they should."""
        return self.escrow_reported - self.bank_balance

    @property
    def unreported(self) -> int:
        """How many institutions' banks have not reported a statement yet."""
        return self.institutions - self.with_statement


def by_district(session: Session, scope: Select[tuple[str]]) -> dict[str, Position]:
    """The money of the institutions whose ids `scope` selects, summed per district: one
    aggregate of their own accounts by district and kind, one of their latest statements."""
    m = Money()
    acc = ledger.kind_accounts(*(kind for kind, _side in ACCOUNTS.values())).subquery()
    by_kind: dict[str, dict[str, Decimal]] = {}
    for code, kind, debit, credit in session.execute(
        select(Institution.region_code, acc.c.kind, func.sum(acc.c.debit_balance, type_=m),
               func.sum(acc.c.credit_balance, type_=m))
        # By ledger alone: every account of these kinds in an institution's ledger is its own
        # (the planner, told owner = ledger too, misjudged the rows and looped over them).
        .join(acc, acc.c.ledger == Institution.id)
        .where(Institution.id.in_(scope))
        .group_by(Institution.region_code, acc.c.kind)
    ):  # fmt: skip
        by_kind.setdefault(code, {})[kind] = debit if kind == "escrow_cash" else credit
    cash = ledger.kind_accounts("escrow_cash").subquery()
    banks = {  # the banks' balances, and the ledger's escrow of the same institutions
        code: (total, n, escrow)
        for code, total, n, escrow in session.execute(
            select(Institution.region_code, func.sum(LatestStatement.closing_balance, type_=m),
                   func.count(), func.sum(func.coalesce(cash.c.debit_balance, 0), type_=m))
            .join(LatestStatement, LatestStatement.account_no == Institution.escrow_account_no)
            .outerjoin(cash, and_(cash.c.ledger == Institution.id, cash.c.owner == Institution.id))
            .where(Institution.id.in_(scope))
            .group_by(Institution.region_code)
        )
    }  # fmt: skip
    counts = session.execute(
        select(Institution.region_code, func.count())
        .where(Institution.id.in_(scope))
        .group_by(Institution.region_code)
    )
    return {code: _position(by_kind.get(code, {}), banks.get(code), n) for code, n in counts}


def _position(
    kinds: dict[str, Decimal], bank: tuple[Decimal, int, Decimal] | None, n: int
) -> Position:
    v = {name: kinds.get(kind, ZERO) for name, (kind, _side) in ACCOUNTS.items()}
    return Position(
        escrow=v["escrow"], bank_balance=bank[0] if bank else ZERO,
        owed=v["escrow"] - v["earned"] - v["suspense"], earned=v["earned"],
        suspense=v["suspense"], reserve=v["reserve"], institutions=n,
        with_statement=bank[1] if bank else 0, escrow_reported=bank[2] if bank else ZERO,
    )  # fmt: skip
