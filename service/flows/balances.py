"""An institution's balances as docs/api.md defines them: its valuation
(`positions.valuations`, the one every caller reads) and what was released to it so far.

escrow = prepaid_outstanding + earned_unreleased + suspense always holds, because every
transfer into or out of escrow cash has one of those liabilities on its other side. Amounts
held for instructions in flight stay in all three until the bank reports them executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection

import ledger
from service.flows.positions import Valuation, coverage, valuations


@dataclass(frozen=True, kw_only=True)
class InstitutionBalances:
    escrow: Decimal  # cash the ledger says is in the supervised account
    prepaid_outstanding: Decimal  # owed to parents for lessons not yet delivered
    earned_unreleased: Decimal  # owed to the institution for lessons delivered, not released
    suspense: Decimal  # cash received that matches no enrollment
    released: Decimal  # total paid out to the institution so far
    reserve: Decimal  # the risk reserve held for the institution (reserve mode)
    bank_balance: Decimal | None = None  # the escrow account's latest statement, if any
    bank_day: date | None = None  # that statement's bank day

    @property
    def coverage(self) -> Decimal | None:
        return coverage(self.bank_balance, self.escrow)

    def as_wire(self, *, with_released: bool = True) -> dict[str, Decimal]:
        out = {
            "escrow": self.escrow,
            "prepaid_outstanding": self.prepaid_outstanding,
            "earned_unreleased": self.earned_unreleased,
            "suspense": self.suspense,
        }
        if with_released:
            out["released"] = self.released
        return out


def institution_balances(
    conn: Connection, institution_id: str, *, as_of: datetime | None = None
) -> InstitutionBalances:
    v = valuations(conn, [institution_id], as_of=as_of)[institution_id]
    return _of(v, _released(conn, institution_id, as_of))


def balances_of(conn: Connection, institution_ids: list[str]) -> dict[str, InstitutionBalances]:
    """Many institutions' balances now, in a few reads whatever their number (a page of a
    list, not one query per row)."""
    valued = valuations(conn, institution_ids)
    released = _released_many(conn, institution_ids)
    return {i: _of(valued[i], released.get(i, Decimal("0.00"))) for i in institution_ids}


def _of(v: Valuation, released: Decimal) -> InstitutionBalances:
    return InstitutionBalances(
        escrow=v.escrow,
        prepaid_outstanding=v.owed,
        earned_unreleased=v.earned,
        suspense=v.suspense,
        released=released,
        reserve=v.reserve,
        bank_balance=v.bank_balance,
        bank_day=v.bank_day,
    )


def _released_many(conn: Connection, institution_ids: list[str]) -> dict[str, Decimal]:
    from sqlalchemy import func, select

    from ledger.types import Money
    from service.flows.models import Instruction

    rows = conn.execute(
        select(Instruction.institution_id, func.sum(Instruction.amount, type_=Money()))
        .where(
            ledger.one_of(conn, Instruction.institution_id, institution_ids),
            Instruction.purpose == "release",
            Instruction.status == "executed",
        )
        .group_by(Instruction.institution_id)
    )
    return {i: total for i, total in rows}


def _released(conn: Connection, institution_id: str, as_of: datetime | None) -> Decimal:
    """Executed release instructions: each posted its hold in full, so this equals the posted
    release transfers, without scanning the institution's ledger history."""
    from sqlalchemy import func, select

    from ledger.types import Money
    from service.flows.models import Instruction

    stmt = select(func.sum(Instruction.amount, type_=Money())).where(
        Instruction.institution_id == institution_id,
        Instruction.purpose == "release",
        Instruction.status == "executed",
    )
    if as_of is not None:
        stmt = stmt.where(Instruction.result_at <= as_of)
    total = conn.execute(stmt).scalar()
    return total if total is not None else Decimal("0.00")
