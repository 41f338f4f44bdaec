"""Deposits reported by custody banks: matched and posted, or held in suspense with a reason.

Idempotent on (bank, bank_txn_id): the same deposit again returns the first answer and
changes nothing; the same id with other content is `idempotency_conflict`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.flows import chart, enrollments
from service.flows import counters as rollups
from service.flows.models import Deposit, Enrollment, Instruction
from service.kit.db import insert_many, update_many
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Bank, Institution, Regulator


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


@dataclass(frozen=True)
class DepositAnswer:
    """What became of a deposit: `posted` to the enrollment it paid, or held in `suspense`
    with its reason."""

    status: Literal["posted", "suspense"]
    deposit_id: str
    enrollment_id: str | None
    reason: str | None

    @classmethod
    def of(cls, d: Mapping[Any, Any]) -> DepositAnswer:
        """From a row of `deposits`."""
        status: Literal["posted", "suspense"] = "suspense" if d["reason"] else "posted"
        return cls(status, d["id"], d["enrollment_id"], d["reason"])


Outcome = DepositAnswer | DomainError


def receive(
    session: Session,
    *,
    bank: Bank,
    data: DepositIn,
    now: datetime,
    limit: Decimal | None = None,
) -> DepositAnswer:
    outcome = receive_many(session, bank=bank, items=[data], now=now, limit=limit)[0]
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _replay(seen: Mapping[Any, Any], bank_txn_id: str, digest: str) -> Outcome:
    if seen["request_hash"] == digest:
        return DepositAnswer.of(seen)
    return DomainError(
        "idempotency_conflict", f"bank_txn_id {bank_txn_id} was reported with other content"
    )


_DEPOSITS = Deposit.metadata.tables[Deposit.__tablename__]
_ENROLLMENTS = Enrollment.metadata.tables[Enrollment.__tablename__]

# What a deposit needs to know of the enrollment it pays.
_PAYEE = select(
    Enrollment.id,
    Enrollment.institution_id,
    Enrollment.payment_reference,
    Enrollment.status,
    Enrollment.amount_due,
    Enrollment.list_amount,
    Enrollment.lessons,
    Enrollment.lessons_consumed,
    Enrollment.lessons_refunded,
)


def receive_many(
    session: Session,
    *,
    bank: Bank,
    items: list[DepositIn],
    now: datetime,
    limit: Decimal | None = None,
) -> list[Outcome]:
    """Deposits in bulk, in one transaction: a few set-based reads, one ledger call for all the
    transfers, one write per table. Each item gets the answer it would get alone; an item
    refused on its own (foreign account, conflicting replay) changes nothing.

    A bank that sends the same deposit in two requests at once (a retry while the first is
    still being written) gets one answer for both. Deposits that pay an enrollment queue on its
    lock and find the first as a replay; others (suspense) meet the first request's row in the
    unique index on (bank, bank_txn_id) once it commits, and are then read again, as
    replays.

    A deposit above `limit` (no parent pays that much for lessons: a broken or hostile caller)
    is refused in its slot, `deposit_above_limit`, and changes nothing."""
    for attempt in range(1, _ATTEMPTS + 1):
        savepoint = session.begin_nested()
        try:
            answers = _receive_many(session, bank=bank, items=items, now=now, limit=limit)
        except IntegrityError as exc:
            savepoint.rollback()
            if attempt == _ATTEMPTS or _constraint(exc) != "uq_deposits_bank_txn":
                raise
            continue
        savepoint.commit()
        return answers
    raise AssertionError("unreachable")


_ATTEMPTS = 3  # each further request carrying the same deposits can cost one more read


def _constraint(exc: IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _receive_many(
    session: Session, *, bank: Bank, items: list[DepositIn], now: datetime, limit: Decimal | None
) -> list[Outcome]:
    """A bank sends these a thousand at a time, so the work is done on plain rows, not ORM
    objects (which cost more than all of the statements together)."""
    conn = session.connection()
    session.flush()  # the reads below bypass the ORM: it must have written what it holds
    insts: dict[str, Institution] = {}
    accounts = {i.account_no for i in items}
    for found in session.scalars(
        select(Institution).where(
            Institution.bank_id == bank.id,
            or_(
                Institution.escrow_account_no.in_(accounts),
                Institution.reserve_account_no.in_(accounts),
            ),
        )
    ):
        insts[found.escrow_account_no] = found
        if found.reserve_account_no:
            insts[found.reserve_account_no] = found
    payees = {
        r.payment_reference: r
        for r in session.execute(
            _PAYEE.where(
                ledger.one_of(
                    conn, Enrollment.payment_reference, {i.payment_reference for i in items}
                )
            )
            .order_by(Enrollment.id)
            .with_for_update()
        )
    }
    # Read after the enrollments are locked: a concurrent batch carrying the same deposits
    # (a bank's retry) has then committed them, and they are answered as replays.
    existing: dict[str, Mapping[Any, Any]] = {
        r.bank_txn_id: r._mapping
        for r in session.execute(
            select(_DEPOSITS).where(
                Deposit.bank_id == bank.id,
                ledger.one_of(conn, Deposit.bank_txn_id, {i.bank_txn_id for i in items}),
            )
        )
    }
    refused: dict[int, DomainError] = {}
    replays: dict[int, Mapping[Any, Any]] = {}  # answered once what they repeat is decided
    digests = [i.digest() for i in items]
    claimed: set[str] = set()  # enrollments paid by this batch: a second payment is a mismatch
    fresh: dict[str, dict[str, Any]] = {}  # by bank_txn_id, the first time in this batch
    for n, item in enumerate(items):
        seen = existing.get(item.bank_txn_id) or fresh.get(item.bank_txn_id)
        if seen is not None:
            replays[n] = seen
            continue
        inst = insts.get(item.account_no)
        if inst is None:
            refused[n] = DomainError(
                "foreign_account", f"account {item.account_no} is not supervised at this bank"
            )
            continue
        if limit is not None and item.amount > limit:
            refused[n] = DomainError(
                "deposit_above_limit", f"a single deposit is at most {limit:.2f} yuan"
            )
            continue
        target = "reserve" if item.account_no == inst.reserve_account_no else "escrow"
        reason, enrollment_id = None, None
        if target == "escrow":
            e = payees.get(item.payment_reference)
            if inst.status == "frozen":
                reason = "institution_frozen"
            elif e is None or e.institution_id != inst.id:
                reason = "unknown_reference"
            elif e.status != "awaiting_payment" or item.amount != e.amount_due or e.id in claimed:
                reason = "amount_mismatch"
            else:
                enrollment_id = e.id
                claimed.add(e.id)
        fresh[item.bank_txn_id] = {
            "id": new_id("dep"),
            "bank_id": bank.id,
            "bank_txn_id": item.bank_txn_id,
            "request_hash": digests[n],
            "account_no": item.account_no,
            "institution_id": inst.id,
            "payment_reference": item.payment_reference,
            "amount": item.amount,
            "paid_at": item.paid_at,
            "received_at": now,
            "status": "suspense" if reason else "posted",
            "reason": reason,
            "target": target,
            "enrollment_id": enrollment_id,
            "resolved_at": None,
        }
    if fresh:
        _post(session, bank=bank, deposits=list(fresh.values()), payees=payees, now=now)
    answers: list[Outcome] = []
    for n, item in enumerate(items):
        if n in refused:
            answers.append(refused[n])
        elif n in replays:
            answers.append(_replay(replays[n], item.bank_txn_id, digests[n]))
        else:
            answers.append(DepositAnswer.of(fresh[item.bank_txn_id]))
    return answers


def _post(
    session: Session,
    *,
    bank: Bank,
    deposits: list[dict[str, Any]],
    payees: dict[str, Row[Any]],
    now: datetime,
) -> None:
    """Write the batch's rows, then move its money. The ledger call and the day's rollups come
    last because they lock rows every concurrent batch for the same institutions needs (its
    escrow cash account, its day): held from there to the commit, those locks are what
    serialises batches, so they are taken when nothing but the commit is left."""
    conn = session.connection()
    ledgers = sorted({d["institution_id"] for d in deposits})
    keys = [
        (lg, kind, lg)
        for lg in ledgers
        for kind in ("escrow_cash", "suspense", "reserve_cash", "reserve")
    ]
    keys += [
        (d["institution_id"], "prepaid", d["enrollment_id"]) for d in deposits if d["enrollment_id"]
    ]
    ids = ledger.account_ids(conn, keys)
    ops: list[ledger.Operation] = []
    for d in deposits:
        lg = d["institution_id"]
        code = "deposit"
        if d["target"] == "reserve":
            debit, credit = ids[(lg, "reserve_cash", lg)], ids[(lg, "reserve", lg)]
            code = "reserve_deposit"
        elif d["reason"]:
            debit, credit = ids[(lg, "escrow_cash", lg)], ids[(lg, "suspense", lg)]
        else:
            e_id = d["enrollment_id"]
            debit = ids[(lg, "escrow_cash", lg)]
            credit = (
                ids.get((lg, "prepaid", e_id)) or chart.prepaid_account(conn, lg, e_id, at=now).id
            )
        ops.append(
            ledger.NewTransfer(
                debit,
                credit,
                d["amount"],
                code,
                reference=f"deposit:{d['id']}",
                idempotency_key=f"deposit:{bank.id}:{d['bank_txn_id']}",
            )
        )
    insert_many(session, _DEPOSITS, deposits)
    by_id = {e.id: e for e in payees.values()}
    paid: list[dict[str, Any]] = []
    totals: dict[str, dict[str, Any]] = {}
    for d in deposits:
        if d["target"] != "escrow":
            continue
        t = totals.setdefault(
            d["institution_id"],
            {
                "deposits_amount": Decimal("0"),
                "deposits_count": 0,
                "enrollments_paid": 0,
                "prepaid_delta": Decimal("0"),
            },
        )
        t["deposits_amount"] += d["amount"]
        t["deposits_count"] += 1
        if d["enrollment_id"]:
            e = by_id[d["enrollment_id"]]
            status = enrollments.settled_status(
                "active", e.lessons, e.lessons_consumed, e.lessons_refunded
            )
            paid.append({"id": e.id, "status": status, "amount_paid": d["amount"], "paid_at": now})
            t["enrollments_paid"] += 1
            t["prepaid_delta"] += d["amount"]
    update_many(session, _ENROLLMENTS, paid)
    ledger.apply(conn, ops, at=now)
    rollups.bump_many(session, [(inst_id, now, t) for inst_id, t in totals.items()])


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
    rollups.bump(
        session,
        institution_id=enrollment.institution_id,
        at=at,
        enrollments_paid=1,
        prepaid_delta=amount,
    )


def _suspense_deposit(session: Session, regulator: Regulator, deposit_id: str) -> Deposit:
    """A deposit held in suspense at an institution of the regulator's region, locked."""
    deposit = session.get(Deposit, deposit_id, with_for_update=True)
    if deposit is None:
        raise DomainError("not_found", f"no deposit {deposit_id}")
    in_regulator_scope(session, regulator, deposit.institution_id)
    if deposit.status != "suspense":
        raise DomainError(
            "deposit_not_in_suspense", f"deposit {deposit_id} is {deposit.status}, not in suspense"
        )
    return deposit


def match_suspense(
    session: Session, *, regulator: Regulator, deposit_id: str, enrollment_id: str, now: datetime
) -> Deposit:
    """A regulator attaches cash held in suspense to the enrollment it was meant for (of the
    same institution, awaiting exactly that amount). Audited."""
    deposit = _suspense_deposit(session, regulator, deposit_id)
    enrollment = enrollments.lock(session, enrollment_id)
    if enrollment.institution_id != deposit.institution_id:
        raise DomainError("not_found", f"no enrollment {enrollment_id} at this institution")
    if enrollment.status != "awaiting_payment" or enrollment.amount_due != deposit.amount:
        raise DomainError(
            "deposit_does_not_pay",
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
    audit(session, actor=f"regulator:{regulator.id}", action="deposit:match",
          subject=deposit.id, detail={"enrollment_id": enrollment.id}, now=now)  # fmt: skip
    session.flush()
    return deposit


def return_suspense(
    session: Session, *, regulator: Regulator, deposit_id: str, now: datetime
) -> Deposit:
    """A regulator orders cash held in suspense sent back the way it came. Audited."""
    from service.flows import instructions

    deposit = _suspense_deposit(session, regulator, deposit_id)
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
    audit(session, actor=f"regulator:{regulator.id}", action="deposit:return",
          subject=deposit.id, detail={"amount": f"{deposit.amount:.2f}"}, now=now)  # fmt: skip
    session.flush()
    return deposit


def listed(
    session: Session, *, institutions: Select[tuple[str]], status: str | None, paging: Paging
) -> Paged[Deposit]:
    stmt = select(Deposit).where(Deposit.institution_id.in_(institutions))
    if status is not None:
        stmt = stmt.where(Deposit.status == status)
    return page_rows(session, stmt, Deposit.id, paging)


def on_returned(session: Session, ins: Instruction, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status = "returned"


def on_return_rejected(session: Session, ins: Instruction, now: datetime) -> None:
    deposit = session.get(Deposit, ins.subject_id, with_for_update=True)
    assert deposit is not None
    deposit.status, deposit.resolved_at = "suspense", None
