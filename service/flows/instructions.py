"""Instructions to banks: the only way money leaves a supervised account.

The amount is held in the ledger the moment the instruction is made (so no two instructions can
spend the same yuan) and posted or voided when the bank reports the result. The instruction id
is saved before anything is sent and reused on every retry, so the bank can deduplicate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import chart
from service.flows.models import Instruction
from service.ids import new_id
from service.money import format_money
from service.registry.models import Institution

# What to do in the rest of the service when an instruction settles: purpose → handler.
ResultHandler = Callable[[Session, Instruction, datetime], None]
ON_EXECUTED: dict[str, ResultHandler] = {}
ON_REJECTED: dict[str, ResultHandler] = {}


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
    account_no: str | None = None,
) -> Instruction:
    """Hold `amount` from a liability account against escrow cash, and record the order."""
    conn = session.connection()
    instruction_id = new_id("ins")
    debit = (
        debit_kind_or_account
        if debit_kind_or_account.startswith("acc_")
        else chart.institution_account(conn, institution.id, debit_kind_or_account).id
    )
    cash = chart.institution_account(conn, institution.id, "escrow_cash")
    hold = ledger.hold(
        conn,
        debit=debit,
        credit=cash.id,
        amount=amount,
        code=purpose,
        at=now,
        reference=f"instruction:{instruction_id}",
    )
    ins = Instruction(
        id=instruction_id,
        bank_id=institution.bank_id,
        institution_id=institution.id,
        kind=kind,
        purpose=purpose,
        subject_id=subject_id,
        account_no=account_no or institution.escrow_account_no,
        amount=amount,
        payee=payee,
        hold_ids=[hold.id],
        status="pending",
        created_at=now,
        delivery_attempts=0,
    )
    session.add(ins)
    session.flush()
    return ins


def apply_result(
    session: Session,
    *,
    bank_id: str,
    instruction_id: str,
    status: str,
    bank_txn_id: str,
    executed_at: datetime,
    reason: str | None,
    now: datetime,
) -> Instruction:
    """Settle an instruction once. The same result again is a no-op; a different one is 409."""
    ins = session.get(Instruction, instruction_id, with_for_update=True, populate_existing=True)
    if ins is None or ins.bank_id != bank_id:
        raise DomainError("unknown_instruction", f"no instruction {instruction_id} at this bank")
    if ins.status != "pending":
        if ins.status == status and ins.result_bank_txn_id == bank_txn_id:
            return ins
        raise DomainError(
            "instruction_settled",
            f"instruction {instruction_id} is already {ins.status} "
            f"(bank_txn_id {ins.result_bank_txn_id})",
        )
    ins.status, ins.result_bank_txn_id, ins.result_reason = status, bank_txn_id, reason
    ins.executed_at = executed_at if status == "executed" else None
    ins.result_at = now
    handler = (ON_EXECUTED if status == "executed" else ON_REJECTED).get(ins.purpose)
    if handler is not None:  # business rows first, ledger last: the fixed lock order
        handler(session, ins, now)
    conn = session.connection()
    for hold_id in ins.hold_ids:
        if status == "executed":
            ledger.post(conn, pending_id=hold_id, at=now)
        else:
            ledger.void(conn, pending_id=hold_id, at=now)
    session.flush()
    return ins


def wire(ins: Instruction) -> dict[str, Any]:
    return {
        "id": ins.id,
        "kind": ins.kind,
        "account_no": ins.account_no,
        "amount": format_money(ins.amount),
        "payee": ins.payee,
        "created_at": ins.created_at.isoformat(),
        "status": ins.status,
    }
