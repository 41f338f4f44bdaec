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

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

import ledger
from ledger import NewTransfer
from service.errors import DomainError
from service.flows import chart
from service.flows.models import Instruction
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.models import Institution

# Why money leaves a supervised account: each purpose has its settlement (flows/settlement.py).
Purpose = Literal["refund", "release", "suspense_return"]
PURPOSES: tuple[Purpose, ...] = ("refund", "release", "suspense_return")


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
    conn = session.connection()
    instruction_id = new_id("ins")
    debit = (
        debit_kind_or_account
        if debit_kind_or_account.startswith("acc_")
        else chart.institution_account(conn, institution.id, debit_kind_or_account).id
    )
    reference = f"instruction:{instruction_id}"
    account_no, ops = _holds(conn, institution, source, debit, amount, purpose, reference)
    holds = ledger.batch(conn, ops, at=now)
    ins = Instruction(
        id=instruction_id,
        bank_id=institution.bank_id,
        institution_id=institution.id,
        kind=kind,
        purpose=purpose,
        subject_id=subject_id,
        account_no=account_no,
        amount=amount,
        payee=payee,
        hold_ids=[h.id for h in holds],
        status="pending",
        created_at=now,
        delivery_attempts=0,
    )
    session.add(ins)
    session.flush()
    return ins


def _holds(
    conn: Connection,
    institution: Institution,
    source: Literal["escrow", "reserve"],
    debit: str,
    amount: Decimal,
    purpose: str,
    reference: str,
) -> tuple[str, list[ledger.Operation]]:
    """The account an instruction pays from, and the holds that reserve its amount there."""

    def hold(debit_id: str, credit_id: str, code: str) -> NewTransfer:
        return NewTransfer(
            debit_account_id=debit_id,
            credit_account_id=credit_id,
            amount=amount,
            code=code,
            pending=True,
            reference=reference,
        )

    if source == "escrow":
        return institution.escrow_account_no, [
            hold(debit, _account(conn, institution, "escrow_cash"), purpose)
        ]
    if institution.reserve_account_no is None:
        raise DomainError("no_reserve", f"institution {institution.id} has no reserve")
    return institution.reserve_account_no, [
        hold(debit, _account(conn, institution, "reserve_cash"), purpose),
        hold(
            _account(conn, institution, "reserve"),
            _account(conn, institution, "earned"),
            "reserve_cover",
        ),
    ]


def _account(conn: Connection, institution: Institution, kind: str) -> str:
    return chart.institution_account(conn, institution.id, kind).id


def of_bank(
    session: Session, *, bank_id: str, status: str | None, paging: Paging
) -> Paged[Instruction]:
    """A bank's instructions (in one status, if given), a page at a time."""
    stmt = select(Instruction).where(Instruction.bank_id == bank_id)
    if status is not None:
        stmt = stmt.where(Instruction.status == status)
    return page_rows(session, stmt, Instruction.id, paging)
