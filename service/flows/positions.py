"""Money under supervision, for many institutions at once: what lists sort by and overviews
sum, as SQL the database aggregates (one pass over the institutions' few own accounts), not a
query per institution.

What parents are owed is read here as escrow − earned − suspense: the ledger keeps
escrow = prepaid + earned + suspense by construction (every transfer into or out of escrow
cash has one of those on its other side), so the sum over a million prepaid accounts is never
needed. An institution's own page reads its prepaid accounts themselves
(`balances.institution_balances`), and the tests hold the two to the identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, literal, select, type_coerce
from sqlalchemy.orm import Session

import ledger
from ledger.types import Money
from service.flows.models import Statement
from service.registry.models import Institution

ZERO = Decimal("0.00")
KINDS = ("escrow_cash", "earned", "suspense", "reserve")


def per_institution() -> Subquery:
    """Columns `institution_id`, `escrow`, `earned`, `suspense`, `reserve`, `owed`."""
    k = ledger.kind_positions(KINDS).subquery()
    m = Money()

    def of(kind: str, side: str) -> ColumnElement[Any]:
        value = k.c.debit_balance if side == "debit" else k.c.credit_balance
        return func.sum(case((k.c.kind == kind, value), else_=literal(0, m)), type_=m)

    escrow, earned = of("escrow_cash", "debit"), of("earned", "credit")
    suspense, reserve = of("suspense", "credit"), of("reserve", "credit")
    return (
        select(
            k.c.ledger.label("institution_id"),
            escrow.label("escrow"),
            earned.label("earned"),
            suspense.label("suspense"),
            reserve.label("reserve"),
            type_coerce(escrow - earned - suspense, m).label("owed"),
        )
        .group_by(k.c.ledger)
        .subquery("positions")
    )


def latest_bank_balance() -> ColumnElement[Any]:
    """Correlated to `Institution`: the closing balance of its escrow account's latest
    statement (by bank day, then arrival), through the (account_no, statement_date) index."""
    return (
        select(Statement.closing_balance)
        .where(Statement.account_no == Institution.escrow_account_no)
        .order_by(Statement.statement_date.desc(), Statement.received_at.desc())
        .limit(1)
        .correlate(Institution)
        .scalar_subquery()
    )


@dataclass(frozen=True)
class Position:
    escrow: Decimal = ZERO  # cash the ledger says is in the supervised accounts
    bank_balance: Decimal = ZERO  # what the banks' latest statements say
    owed: Decimal = ZERO  # to parents, for lessons not delivered
    earned: Decimal = ZERO  # to the institutions, delivered and not released
    suspense: Decimal = ZERO  # cash that matches no enrollment
    reserve: Decimal = ZERO  # risk reserves held
    institutions: int = 0
    with_statement: int = 0  # how many have a bank statement at all

    def __add__(self, o: Position) -> Position:
        return Position(*(a + b for a, b in zip(_values(self), _values(o), strict=True)))

    @property
    def coverage(self) -> Decimal | None:
        """The banks' balances over the ledger's escrow (1.00: all of it is there)."""
        return (
            (self.bank_balance / self.escrow).quantize(Decimal("0.0001")) if self.escrow else None
        )


def _values(p: Position) -> tuple[Any, ...]:
    return (p.escrow, p.bank_balance, p.owed, p.earned, p.suspense, p.reserve, p.institutions,
            p.with_statement)  # fmt: skip


def by_district(session: Session, scope: Select[tuple[str]]) -> dict[str, Position]:
    """The money of the institutions whose ids `scope` selects, summed per district."""
    pos = per_institution()
    bank = latest_bank_balance()
    m = Money()
    rows = session.execute(
        select(
            Institution.region_code,
            func.coalesce(func.sum(pos.c.escrow), literal(0, m)),
            func.coalesce(func.sum(bank), literal(0, m)),
            func.coalesce(func.sum(pos.c.owed), literal(0, m)),
            func.coalesce(func.sum(pos.c.earned), literal(0, m)),
            func.coalesce(func.sum(pos.c.suspense), literal(0, m)),
            func.coalesce(func.sum(pos.c.reserve), literal(0, m)),
            func.count(),
            func.count(bank),
        )
        .select_from(Institution)
        .outerjoin(pos, pos.c.institution_id == Institution.id)
        .where(Institution.id.in_(scope))
        .group_by(Institution.region_code)
    )
    return {code: Position(*values) for code, *values in rows}
