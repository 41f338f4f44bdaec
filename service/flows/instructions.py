"""Instructions to banks: the only way money leaves a supervised account.

The amount is held in the ledger the moment the instruction is made (so no two instructions can
spend the same yuan) and posted or voided when the bank reports the result. The instruction id
is saved before anything is sent and reused on every retry, so the bank can deduplicate.

An instruction pays from the escrow account, or, for a refund of an institution under risk-reserve
supervision whose escrow could not pay, from its reserve account: then the parent's balance is
paid from reserve cash, and the same amount of the reserve moves to `earned` (code
`reserve_cover`): the institution has paid the parent out of its own reserve, so the parent's
money still counted in escrow becomes the institution's. Both are held together and settle
together, so escrow = prepaid + earned + suspense and reserve cash = reserve hold throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

import ledger
from ledger import NewTransfer
from service.errors import DomainError
from service.flows.models import Instruction
from service.kit.db import insert_many
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.models import Institution

# Why money leaves a supervised account: each purpose has its settlement (flows/settlement.py).
Purpose = Literal["refund", "release", "suspense_return", "wind_down", "wind_down_transfer"]
PURPOSES: tuple[Purpose, ...] = (
    "refund", "release", "suspense_return", "wind_down", "wind_down_transfer",
)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Order:
    """An instruction to make: `amount` held from a liability account (a kind of the
    institution's, or an account id) against the cash of `source`."""

    institution: Institution
    purpose: str
    kind: str
    subject_id: str | None
    debit_kind_or_account: str
    amount: Decimal
    payee: dict[str, Any]
    source: Literal["escrow", "reserve"] = "escrow"


def create(
    session: Session,
    *,
    institution: Institution,
    purpose: str,
    kind: str,
    subject_id: str | None,
    debit_kind_or_account: str,
    amount: Decimal,
    payee: dict[str, Any],
    now: datetime,
    source: Literal["escrow", "reserve"] = "escrow",
) -> Instruction:
    """Hold `amount` from a liability account against the cash of `source`, and record the
    order. Raises a `LedgerError` (and holds nothing) if the cash or the reserve is short."""
    order = Order(
        institution=institution,
        purpose=purpose,
        kind=kind,
        subject_id=subject_id,
        debit_kind_or_account=debit_kind_or_account,
        amount=amount,
        payee=payee,
        source=source,
    )
    return create_many(session, [order], now=now)[0]


def create_many(session: Session, orders: Sequence[Order], *, now: datetime) -> list[Instruction]:
    """Several instructions (a release run's, one per institution): their accounts found in
    one lookup, their holds made in one ledger batch. All or nothing: a `LedgerError` if any
    cash is short, and nothing held."""
    out = [Instruction(**row) for row in _made(session, orders, now)]
    session.add_all(out)
    session.flush()
    return out


def create_rows(session: Session, orders: Sequence[Order], *, now: datetime) -> list[str]:
    """`create_many` for thousands at once (a wind-down's round): the same instructions and
    holds, written as rows rather than ORM objects (which cost more than the ledger's part);
    returns their ids, in the orders' order."""
    rows = _made(session, orders, now)
    insert_many(session, _INSTRUCTIONS, rows)  # COPY on PostgreSQL
    return [str(r["id"]) for r in rows]


_INSTRUCTIONS = Instruction.metadata.tables[Instruction.__tablename__]


# `session.info` key: this session made instructions (`made_any`), whoever asked for them.
_MADE = "instructions_made"


def made_any(session: Session) -> bool:
    """Whether this session has made bank instructions: a door (an API route, a page, the
    approvals queue deciding any action) pushes them to the bank once its commit is done, the
    same whichever use case or approval made them."""
    return bool(session.info.get(_MADE))


def _made(session: Session, orders: Sequence[Order], now: datetime) -> list[dict[str, Any]]:
    """The orders' rows, their holds made in one ledger batch."""
    if orders:
        session.info[_MADE] = True
    conn = session.connection()
    accounts = _accounts(conn, orders)
    made = [(new_id("ins"), o) for o in orders]
    planned = [_holds(o, accounts, f"instruction:{ins_id}") for ins_id, o in made]
    holds = iter(ledger.batch(conn, [op for _, ops in planned for op in ops], at=now))
    return [
        {"id": ins_id, "bank_id": o.institution.bank_id, "institution_id": o.institution.id,
         "kind": o.kind, "purpose": o.purpose, "subject_id": o.subject_id,
         "account_no": account_no, "amount": o.amount, "payee": o.payee,
         "hold_ids": [next(holds).id for _ in ops], "status": "pending", "created_at": now,
         "delivery_attempts": 0, "result_bank_txn_id": None, "executed_at": None,
         "result_reason": None, "result_at": None, "delivered_at": None,
         "last_delivery_error": None}
        for (ins_id, o), (account_no, ops) in zip(made, planned, strict=True)
    ]  # fmt: skip


_Accounts = dict[tuple[str, str], str]  # (institution id, kind) → account id


def _accounts(conn: Connection, orders: Sequence[Order]) -> _Accounts:
    """The institution accounts the orders name, in one lookup."""
    wanted: set[tuple[str, str]] = set()
    for o in orders:
        kinds = ["escrow_cash"] if o.source == "escrow" else ["reserve_cash", "reserve", "earned"]
        if not o.debit_kind_or_account.startswith("acc_"):
            kinds.append(o.debit_kind_or_account)
        wanted |= {(o.institution.id, k) for k in kinds}
    found = ledger.account_ids(conn, [(i, k, i) for i, k in wanted])
    missing = sorted(key for key in wanted if (key[0], key[1], key[0]) not in found)
    if missing:
        raise ledger.LedgerCorrupted(f"institution {missing[0][0]} has no {missing[0][1]} account")
    return {(i, k): found[(i, k, i)] for i, k in wanted}


def _holds(o: Order, accounts: _Accounts, reference: str) -> tuple[str, list[ledger.Operation]]:
    """The account an instruction pays from, and the holds that reserve its amount there."""
    inst = o.institution.id
    debit = (
        o.debit_kind_or_account
        if o.debit_kind_or_account.startswith("acc_")
        else accounts[(inst, o.debit_kind_or_account)]
    )

    def hold(debit_id: str, credit_id: str, code: str) -> NewTransfer:
        return NewTransfer(
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=o.amount,
            code=code,
            pending=True,
            reference=reference,
        )

    if o.source == "escrow":
        return o.institution.escrow_account_no, [
            hold(debit, accounts[(inst, "escrow_cash")], o.purpose)
        ]
    if o.institution.reserve_account_no is None:
        raise DomainError("no_reserve", f"institution {inst} has no reserve")
    return o.institution.reserve_account_no, [
        hold(debit, accounts[(inst, "reserve_cash")], o.purpose),
        hold(accounts[(inst, "reserve")], accounts[(inst, "earned")], "reserve_cover"),
    ]


def of_bank(
    session: Session, *, bank_id: str, status: str | None, paging: Paging
) -> Paged[Instruction]:
    """A bank's instructions (in one status, if given), a page at a time."""
    stmt = select(Instruction).where(Instruction.bank_id == bank_id)
    if status is not None:
        stmt = stmt.where(Instruction.status == status)
    return page_rows(session, stmt, Instruction.id, paging)
