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
from service.db import insert_many
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
    if d.reason:
        return 202, {"status": "suspense", "reason": d.reason, "deposit_id": d.id}
    return 201, {"status": "posted", "enrollment_id": d.enrollment_id, "deposit_id": d.id}


Outcome = tuple[int, dict[str, Any]] | DomainError


def receive(
    session: Session, *, bank: Bank, data: DepositIn, now: datetime
) -> tuple[int, dict[str, Any]]:
    outcome = receive_many(session, bank=bank, items=[data], now=now)[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def receive_many(
    session: Session, *, bank: Bank, items: list[DepositIn], now: datetime
) -> list[Outcome]:
    """Deposits in bulk, in one transaction: a few set-based reads, one ledger call for all the
    transfers, bulk writes. Each item gets the answer it would get alone; an item refused on
    its own (foreign account, conflicting replay) changes nothing."""
    out: list[Outcome | None] = [None] * len(items)
    existing = {
        d.bank_txn_id: d
        for d in session.scalars(
            select(Deposit).where(
                Deposit.bank_id == bank.id, Deposit.bank_txn_id.in_({i.bank_txn_id for i in items})
            )
        )
    }
    accounts = {i.account_no for i in items}
    insts: dict[str, Institution] = {}
    for inst in session.scalars(
        select(Institution).where(
            Institution.bank_id == bank.id,
            or_(
                Institution.escrow_account_no.in_(accounts),
                Institution.reserve_account_no.in_(accounts),
            ),
        )
    ):
        insts[inst.escrow_account_no] = inst
        if inst.reserve_account_no:
            insts[inst.reserve_account_no] = inst
    refs = {i.payment_reference for i in items}
    by_ref = {
        e.payment_reference: e
        for e in session.scalars(
            select(Enrollment)
            .where(Enrollment.payment_reference.in_(refs))
            .order_by(Enrollment.id)
            .with_for_update()
        )
    }
    fresh: dict[str, tuple[int, Deposit]] = {}
    new_deposits: list[Deposit] = []
    for n, item in enumerate(items):
        seen = existing.get(item.bank_txn_id) or (
            fresh[item.bank_txn_id][1] if item.bank_txn_id in fresh else None
        )
        if seen is not None:
            out[n] = (
                answer(seen)
                if seen.request_hash == item.digest()
                else DomainError(
                    "idempotency_conflict",
                    f"bank_txn_id {item.bank_txn_id} was reported with other content",
                )
            )
            continue
        inst = insts.get(item.account_no)
        if inst is None:
            out[n] = DomainError(
                "foreign_account", f"account {item.account_no} is not supervised at this bank"
            )
            continue
        d = Deposit(
            id=new_id("dep"),
            bank_id=bank.id,
            bank_txn_id=item.bank_txn_id,
            request_hash=item.digest(),
            account_no=item.account_no,
            institution_id=inst.id,
            payment_reference=item.payment_reference,
            amount=item.amount,
            paid_at=item.paid_at,
            received_at=now,
            status="posted",
            reason=None,
            enrollment_id=None,
            target="reserve" if item.account_no == inst.reserve_account_no else "escrow",
        )
        if d.target == "escrow":
            e = by_ref.get(item.payment_reference)
            if inst.status == "frozen":
                d.reason = "institution_frozen"
            elif e is None or e.institution_id != inst.id:
                d.reason = "unknown_reference"
            elif e.status != "awaiting_payment" or item.amount != e.amount_due:
                d.reason = "amount_mismatch"
            else:
                d.enrollment_id = e.id
                e.status = "active"  # claimed now, so a second payment in the batch is a mismatch
            d.status = "suspense" if d.reason else "posted"
        fresh[item.bank_txn_id] = (n, d)
        new_deposits.append(d)
    if new_deposits:
        _post(session, bank=bank, deposits=new_deposits, enrollments=by_ref, insts=insts, now=now)
    for n, d in fresh.values():
        out[n] = answer(d)
    for n, item in enumerate(items):  # replays of items first seen in this batch
        if out[n] is None:
            seen = fresh[item.bank_txn_id][1]
            out[n] = (
                answer(seen)
                if seen.request_hash == item.digest()
                else DomainError(
                    "idempotency_conflict",
                    f"bank_txn_id {item.bank_txn_id} twice with different content",
                )
            )
    return [o for o in out if o is not None]


def _post(
    session: Session,
    *,
    bank: Bank,
    deposits: list[Deposit],
    enrollments: dict[str, Enrollment],
    insts: dict[str, Institution],
    now: datetime,
) -> None:
    conn = session.connection()
    ledgers = sorted({d.institution_id for d in deposits})
    funded = sorted({d.enrollment_id for d in deposits if d.enrollment_id})
    # One read for both: institution accounts are owned by the institution (the ledger name),
    # prepaid accounts by their enrollment.
    acct: dict[tuple[str, str], str] = {}
    prepaid: dict[str, str] = {}
    for a in ledger.accounts_of(
        conn,
        ledgers=ledgers,
        kinds=("escrow_cash", "suspense", "reserve_cash", "reserve", "prepaid"),
        owners=[*ledgers, *funded],
    ):
        if a.kind == "prepaid":
            prepaid[a.owner] = a.id
        elif a.owner == a.ledger:
            acct[(a.ledger, a.kind)] = a.id
    ops: list[ledger.Operation] = []
    for d in deposits:
        key = f"deposit:{bank.id}:{d.bank_txn_id}"
        ref = f"deposit:{d.id}"
        lg = d.institution_id
        if d.target == "reserve":
            ops.append(
                ledger.NewTransfer(
                    acct[(lg, "reserve_cash")],
                    acct[(lg, "reserve")],
                    d.amount,
                    "reserve_deposit",
                    reference=ref,
                    idempotency_key=key,
                )
            )
        elif d.reason:
            ops.append(
                ledger.NewTransfer(
                    acct[(lg, "escrow_cash")],
                    acct[(lg, "suspense")],
                    d.amount,
                    "deposit",
                    reference=ref,
                    idempotency_key=key,
                )
            )
        else:
            assert d.enrollment_id is not None
            account = (
                prepaid.get(d.enrollment_id)
                or chart.prepaid_account(conn, lg, d.enrollment_id, at=now).id
            )
            ops.append(
                ledger.NewTransfer(
                    acct[(lg, "escrow_cash")],
                    account,
                    d.amount,
                    "deposit",
                    reference=ref,
                    idempotency_key=key,
                )
            )
    ledger.apply(conn, ops, at=now)
    # Written as rows, not through the ORM: a bank's batch is a thousand of them. The objects
    # stay as they are, to answer the bank.
    table = Deposit.metadata.tables[Deposit.__tablename__]
    insert_many(
        session, table, [{c.key: getattr(d, c.key) for c in table.columns} for d in deposits]
    )
    by_id = {e.id: e for e in enrollments.values()}
    totals: dict[str, dict[str, Any]] = {}
    for d in deposits:
        t = totals.setdefault(
            d.institution_id,
            {
                "deposits_amount": Decimal("0"),
                "deposits_count": 0,
                "enrollments_paid": 0,
                "enrollments_discounted": 0,
                "prepaid_delta": Decimal("0"),
            },
        )
        if d.target != "escrow":
            continue
        t["deposits_amount"] += d.amount
        t["deposits_count"] += 1
        if d.enrollment_id:
            e = by_id[d.enrollment_id]
            e.amount_paid, e.paid_at = d.amount, now
            _settle(e)
            t["enrollments_paid"] += 1
            t["enrollments_discounted"] += int(d.amount < e.list_amount * DEEP_DISCOUNT_SHARE)
            t["prepaid_delta"] += d.amount
    rollups.bump_many(
        session, [(inst_id, now, t) for inst_id, t in totals.items() if t["deposits_count"]]
    )
    session.flush()


def _settle(e: Enrollment) -> None:
    e.status = "active"
    enrollments.settle_status(e)


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
    """Suspense cash matched to its enrollment by a regulator."""
    conn = session.connection()
    prepaid = chart.prepaid_account(conn, enrollment.institution_id, enrollment.id, at=at)
    ledger.transfer(
        conn,
        debit=debit,
        credit=prepaid.id,
        amount=amount,
        code="suspense_match",
        at=at,
        reference=reference,
        idempotency_key=idempotency_key,
    )
    enrollment.amount_paid = amount
    enrollment.paid_at = at
    _settle(enrollment)
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
