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

from sqlalchemy import Select, Subquery, and_, func, literal, select, type_coerce
from sqlalchemy.orm import Session

import ledger
from ledger.types import Money
from service.flows.models import LatestStatement
from service.registry.models import Institution

ZERO = Decimal("0.00")


ACCOUNTS = {  # a position: its account kind, and the side its balance is read from
    "escrow": ("escrow_cash", "debit_balance"),
    "earned": ("earned", "credit_balance"),
    "suspense": ("suspense", "credit_balance"),
    "reserve": ("reserve", "credit_balance"),
}


def per_institution() -> Subquery:
    """Columns `institution_id`, `escrow`, `earned`, `suspense`, `reserve`, `owed` and
    `bank_balance` (the latest statement's, or null): each institution's own accounts joined
    by natural key (one of each kind, owned by the institution), no aggregate."""
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
    banks = {
        code: (total, n)
        for code, total, n in session.execute(
            select(Institution.region_code, func.sum(LatestStatement.closing_balance, type_=m),
                   func.count())
            .join(LatestStatement, LatestStatement.account_no == Institution.escrow_account_no)
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


def _position(kinds: dict[str, Decimal], bank: tuple[Decimal, int] | None, n: int) -> Position:
    v = {name: kinds.get(kind, ZERO) for name, (kind, _side) in ACCOUNTS.items()}
    return Position(
        escrow=v["escrow"], bank_balance=bank[0] if bank else ZERO,
        owed=v["escrow"] - v["earned"] - v["suspense"], earned=v["earned"],
        suspense=v["suspense"], reserve=v["reserve"], institutions=n,
        with_statement=bank[1] if bank else 0,
    )  # fmt: skip
