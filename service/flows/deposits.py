"""Deposits reported by custody banks: matched and posted, or held in suspense with a reason.

Idempotent on (bank, bank_txn_id): the same deposit again returns the first answer and
changes nothing; the same id with other content is `idempotency_conflict`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import chart, enrollments
from service.flows.models import Deposit, Enrollment
from service.ids import new_id
from service.registry.models import Bank, Institution
from service.risk import rollups

DEEP_DISCOUNT_SHARE = Decimal("0.7")  # DOMAIN.md §5: paid below 70% of the filed price


@dataclass(frozen=True)
class DepositIn:
    bank_txn_id: str
    account_no: str
    payment_reference: str
    amount: Decimal
    paid_at: datetime

    def digest(self) -> str:
        text = json.dumps(
            [
                self.bank_txn_id,
                self.account_no,
                self.payment_reference,
                f"{self.amount:.2f}",
                self.paid_at.isoformat(),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()


def answer(d: Deposit) -> tuple[int, dict[str, Any]]:
    """The bank's answer for a deposit: 201 posted, or 202 suspense with its reason."""
    if d.status == "suspense" or (d.status in ("matched", "returning", "returned") and d.reason):
        return 202, {"status": "suspense", "reason": d.reason, "deposit_id": d.id}
    return 201, {"status": "posted", "enrollment_id": d.enrollment_id, "deposit_id": d.id}


def receive(
    session: Session, *, bank: Bank, data: DepositIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    existing = session.scalar(
        select(Deposit).where(Deposit.bank_id == bank.id, Deposit.bank_txn_id == data.bank_txn_id)
    )
    if existing is not None:
        if existing.request_hash != data.digest():
            raise DomainError(
                "idempotency_conflict",
                f"bank_txn_id {data.bank_txn_id} was reported with other content",
            )
        return answer(existing)
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
            "foreign_account", f"account {data.account_no} is not supervised at this bank"
        )
    deposit = Deposit(
        id=new_id("dep"),
        bank_id=bank.id,
        bank_txn_id=data.bank_txn_id,
        request_hash=data.digest(),
        account_no=data.account_no,
        institution_id=inst.id,
        payment_reference=data.payment_reference,
        amount=data.amount,
        paid_at=data.paid_at,
        received_at=now,
        status="posted",
        reason=None,
        enrollment_id=None,
        target="reserve" if data.account_no == inst.reserve_account_no else "escrow",
    )
    session.add(deposit)
    conn = session.connection()
    key = f"deposit:{bank.id}:{data.bank_txn_id}"
    if deposit.target == "escrow":
        rollups.bump(
            session, institution_id=inst.id, at=now, deposits_amount=data.amount, deposits_count=1
        )
    if deposit.target == "reserve":
        ledger.transfer(
            conn,
            debit=chart.institution_account(conn, inst.id, "reserve_cash").id,
            credit=chart.institution_account(conn, inst.id, "reserve").id,
            amount=data.amount,
            code="reserve_deposit",
            at=now,
            reference=f"deposit:{deposit.id}",
            idempotency_key=key,
        )
        session.flush()
        return answer(deposit)

    enrollment = session.scalar(
        select(Enrollment)
        .where(
            Enrollment.payment_reference == data.payment_reference,
            Enrollment.institution_id == inst.id,
        )
        .with_for_update()
    )
    reason = None
    if inst.status == "frozen":
        reason = "institution_frozen"
    elif enrollment is None:
        reason = "unknown_reference"
    elif enrollment.status != "awaiting_payment" or data.amount != enrollment.amount_due:
        reason = "amount_mismatch"
    escrow = chart.institution_account(conn, inst.id, "escrow_cash")
    if reason is not None:
        deposit.status, deposit.reason = "suspense", reason
        ledger.transfer(
            conn,
            debit=escrow.id,
            credit=chart.institution_account(conn, inst.id, "suspense").id,
            amount=data.amount,
            code="deposit",
            at=now,
            reference=f"deposit:{deposit.id}",
            idempotency_key=key,
        )
        session.flush()
        return answer(deposit)
    assert enrollment is not None
    fund(
        session,
        enrollment=enrollment,
        amount=data.amount,
        at=now,
        debit=escrow.id,
        reference=f"deposit:{deposit.id}",
        idempotency_key=key,
    )
    deposit.enrollment_id = enrollment.id
    session.flush()
    return answer(deposit)


def fund(
    session: Session,
    *,
    enrollment: Enrollment,
    amount: Decimal,
    at: datetime,
    debit: str,
    reference: str,
    idempotency_key: str,
) -> None:
    conn = session.connection()
    prepaid = chart.prepaid_account(conn, enrollment.institution_id, enrollment.id, at=at)
    code = "deposit" if idempotency_key.startswith("deposit:") else "suspense_match"
    ledger.transfer(
        conn,
        debit=debit,
        credit=prepaid.id,
        amount=amount,
        code=code,
        at=at,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    enrollment.amount_paid = amount
    enrollment.paid_at = at
    enrollment.status = "active"
    enrollments.settle_status(enrollment)
    discounted = amount < enrollment.list_amount * DEEP_DISCOUNT_SHARE
    rollups.bump(
        session,
        institution_id=enrollment.institution_id,
        at=at,
        enrollments_paid=1,
        enrollments_discounted=int(discounted),
        prepaid_delta=amount,
    )


def match_suspense(
    session: Session, *, deposit_id: str, enrollment_id: str, now: datetime
) -> Deposit:
    """A regulator attaches cash held in suspense to the enrollment it was meant for."""
    deposit = session.get(Deposit, deposit_id, with_for_update=True)
    if deposit is None:
        raise DomainError("not_found", f"no deposit {deposit_id}")
    if deposit.status != "suspense":
        raise DomainError(
            "invalid_state", f"deposit {deposit_id} is {deposit.status}, not in suspense"
        )
    enrollment = enrollments.lock(session, enrollment_id)
    if enrollment.institution_id != deposit.institution_id:
        raise DomainError("invalid_state", "the enrollment belongs to another institution")
    if enrollment.status != "awaiting_payment" or enrollment.amount_due != deposit.amount:
        raise DomainError(
            "invalid_state",
            f"the enrollment is {enrollment.status} and owes {enrollment.amount_due}; "
            f"the deposit is {deposit.amount}",
        )
    conn = session.connection()
    fund(
        session,
        enrollment=enrollment,
        amount=deposit.amount,
        at=now,
        debit=chart.institution_account(conn, deposit.institution_id, "suspense").id,
        reference=f"deposit:{deposit.id}",
        idempotency_key=f"suspense_match:{deposit.id}",
    )
    deposit.status, deposit.enrollment_id, deposit.resolved_at = "matched", enrollment.id, now
    session.flush()
    return deposit


def view(d: Deposit) -> dict[str, Any]:
    from service.money import format_money

    return {
        "id": d.id,
        "bank_txn_id": d.bank_txn_id,
        "account_no": d.account_no,
        "institution_id": d.institution_id,
        "payment_reference": d.payment_reference,
        "amount": format_money(d.amount),
        "paid_at": d.paid_at.isoformat(),
        "received_at": d.received_at.isoformat(),
        "status": d.status,
        "reason": d.reason,
        "enrollment_id": d.enrollment_id,
        "target": d.target,
    }


def return_suspense(session: Session, *, deposit_id: str, now: datetime) -> Deposit:
    """A regulator orders cash held in suspense sent back the way it came."""
    from service.flows import instructions

    deposit = session.get(Deposit, deposit_id, with_for_update=True)
    if deposit is None:
        raise DomainError("not_found", f"no deposit {deposit_id}")
    if deposit.status != "suspense":
        raise DomainError(
            "invalid_state", f"deposit {deposit_id} is {deposit.status}, not in suspense"
        )
    inst = session.get(Institution, deposit.institution_id)
    assert inst is not None
    instructions.create(
        session,
        institution=inst,
        purpose="suspense_return",
        kind="refund",
        subject_id=deposit.id,
        debit_kind_or_account="suspense",
        amount=deposit.amount,
        payee={"original_bank_txn_ids": [deposit.bank_txn_id]},
        now=now,
    )
    deposit.status, deposit.resolved_at = "returning", now
    session.flush()
    return deposit


def _returned(session: Session, ins: Any, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status = "returned"


def _return_rejected(session: Session, ins: Any, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status, deposit.resolved_at = "suspense", None


def _register() -> None:
    from service.flows import instructions

    instructions.ON_EXECUTED["suspense_return"] = _returned
    instructions.ON_REJECTED["suspense_return"] = _return_rejected


_register()
