"""Refunds: requested by the parent, answered by the institution (or accepted for it once
`respond_by` passes), decided by a regulator when disputed, instructed to the bank, paid or
failed. A failed refund returns the held amount to the parent's balance; under risk-reserve
supervision a refund the escrow account could not pay is paid from the reserve instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.fees.working_days import add_working_days_at, span_end
from service.flows import counters as rollups
from service.flows import enrollments, instructions
from service.flows.models import Claim, Instruction, Refund, RefundEvent
from service.kit.choices import choose
from service.kit.clock import local_date
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.policy import packs
from service.registry.institutions import (
    audit_decision,
    in_regulator_scope,
    refuse_unless_disputed,
)
from service.registry.models import Institution, Regulator

ACTIVE = ("requested", "accepted", "disputed", "instructed")
RefundStatus = Literal[
    "requested", "accepted", "disputed", "instructed", "paid", "failed", "denied"
]


def overdue(as_of: datetime) -> ColumnElement[bool]:
    """The one meaning of an overdue refund: still awaiting the institution's answer after its
    `respond_by`. The overview counts it, the refunds page lists it, the escalation job
    accepts it; nothing else writes the condition."""
    return and_(Refund.status == "requested", Refund.respond_by <= as_of)


def payment_overdue(as_of: datetime) -> ColumnElement[bool]:
    """Consented to and instructed, but not paid by the bank by its `pay_by` (the pack's
    `refund_payment_deadline`): shown with the refund, and evidence of an overdue refund."""
    return and_(Refund.status == "instructed", Refund.pay_by <= as_of)


def is_payment_overdue(refund: Refund, as_of: datetime) -> bool:
    """`payment_overdue` for one refund in hand."""
    return refund.status == "instructed" and refund.pay_by is not None and refund.pay_by <= as_of


def missed_deadline(as_of: datetime) -> ColumnElement[bool]:
    """Not answered by its deadline, as seen at `as_of`: overdue then, or answered after
    `respond_by`. The risk facts' history of an institution's answers: it stays after the
    escalation job accepted the request (an overdue refund is no longer overdue then, but it
    was answered late all the same)."""
    return and_(
        Refund.respond_by <= as_of,
        or_(Refund.answered_at.is_(None), Refund.answered_at > Refund.respond_by),
    )


class Answer(StrEnum):
    """The institution's answer to a refund of its own."""

    ACCEPT = "accept"
    DISPUTE = "dispute"


class Decision(StrEnum):
    """A regulator's decision on a disputed refund."""

    APPROVE = "approve"
    DENY = "deny"


def _event(session: Session, refund: Refund, status: str, at: datetime, note: str | None) -> None:
    refund.status = status
    seq = session.scalar(select(func.count()).where(RefundEvent.refund_id == refund.id)) or 0
    session.add(
        RefundEvent(
            id=new_id("rfe"), refund_id=refund.id, seq=seq + 1, status=status, at=at, note=note
        )
    )
    session.flush()


def request(
    session: Session, *, enrollment_id: str, lessons: int | None, reason: str, now: datetime
) -> Refund:
    e = enrollments.lock(session, enrollment_id)
    inst = session.get(Institution, e.institution_id)
    assert inst is not None
    if inst.status == "winding_down":
        raise DomainError(
            "institution_winding_down",
            "the institution is being wound up: the balance is your claim in the wind-down",
        )
    busy = session.scalar(
        select(Refund.id).where(Refund.enrollment_id == e.id, Refund.status.in_(ACTIVE))
    )
    if busy:
        raise DomainError("refund_in_progress", f"refund {busy} is still in progress")
    remaining = enrollments.remaining_lessons(e)
    if e.status in enrollments.UNPAID or remaining == 0:
        raise DomainError("nothing_to_refund", "no paid, unconsumed lessons remain")
    count = remaining if lessons is None else lessons
    if count > remaining:
        raise DomainError("nothing_to_refund", f"{count} lessons asked; {remaining} remain")
    amount = enrollments.refund_amount(e, count)
    pack = packs.for_institution(session, inst, on=local_date(now))
    respond_by = span_end(now, pack.values.refund_answer_deadline)
    refund = Refund(
        id=new_id("ref"),
        enrollment_id=e.id,
        institution_id=e.institution_id,
        lessons=count,
        amount=amount,
        status="requested",
        reason=reason,
        requested_at=now,
        respond_by=respond_by.at,
        respond_by_provisional=respond_by.provisional,
        escalated=False,
    )
    session.add(refund)
    session.flush()
    _event(session, refund, "requested", now, reason)
    # The lessons are set aside at once, so they cannot be consumed while the refund is open.
    e.lessons_refunded += count
    e.amount_refunded += amount
    enrollments.settle_status(e)
    rollups.bump(session, institution_id=e.institution_id, at=now, refund_requests=1)
    session.flush()
    return refund


def lock(session: Session, refund_id: str) -> Refund:
    refund = session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
    if refund is None:
        raise DomainError("not_found", f"no refund {refund_id}")
    return refund


def respond(
    session: Session,
    *,
    institution: Institution,
    refund_id: str,
    decision: Answer,
    reason: str,
    now: datetime,
) -> Refund:
    """The institution answers a refund of its own: accept (instructed at once) or dispute
    (a regulator decides). Anything else is refused before the refund is read."""
    decision = choose(Answer, decision, field="decision")
    refund = lock(session, refund_id)
    if refund.institution_id != institution.id:
        raise DomainError("not_found", f"no refund {refund_id}")
    if refund.status != "requested":
        raise DomainError(
            "invalid_state",
            f"the refund is {refund.status}, not awaiting an answer",
            extra={"state": refund.status},
        )
    refund.answered_at = now
    if decision is Answer.DISPUTE:
        _event(session, refund, "disputed", now, reason)
        session.flush()
        return refund
    return accept(session, refund=refund, now=now, note=reason)


def accept(session: Session, *, refund: Refund, now: datetime, note: str) -> Refund:
    """Accepting, by whoever, makes the instruction at once."""
    _event(session, refund, "accepted", now, note)
    enrollments.lock(session, refund.enrollment_id)  # lock order: enrollment before the ledger
    inst = session.get(Institution, refund.institution_id)
    assert inst is not None
    pack = packs.for_institution(session, inst, on=local_date(now))
    pay_by = add_working_days_at(now, pack.values.refund_payment_deadline.working_days)
    refund.pay_by, refund.pay_by_provisional = pay_by.at, pay_by.provisional
    _instruct(session, refund, inst, now, "escrow")
    session.flush()
    return refund


def _instruct(
    session: Session,
    refund: Refund,
    inst: Institution,
    now: datetime,
    source: Literal["escrow", "reserve"],
) -> None:
    """Order the bank to pay the parent back by the route the money came in."""
    from service.flows import chart

    prepaid = chart.prepaid_account(session.connection(), inst.id, refund.enrollment_id, at=now)
    ins = instructions.create(
        session,
        institution=inst,
        purpose="refund",
        kind="refund",
        subject_id=refund.id,
        debit_kind_or_account=prepaid.id,
        amount=refund.amount,
        payee={"original_bank_txn_ids": _original_txns(session, refund.enrollment_id)},
        now=now,
        source=source,
    )
    refund.instruction_id = ins.id
    note = f"instruction {ins.id}"
    _event(
        session,
        refund,
        "instructed",
        now,
        f"drawn on the risk reserve: {note}" if source == "reserve" else note,
    )


def _original_txns(session: Session, enrollment_id: str) -> list[str]:
    from service.flows.models import Deposit

    return list(
        session.scalars(
            select(Deposit.bank_txn_id)
            .where(Deposit.enrollment_id == enrollment_id)
            .order_by(Deposit.received_at)
        )
    )


def decide(
    session: Session,
    *,
    regulator: Regulator,
    refund_id: str,
    decision: Decision,
    reason: str,
    now: datetime,
) -> Refund:
    """A regulator decides a disputed refund in their region: approve (instructed at once) or
    deny (the lessons return to the enrollment). Audited. Anything else is refused before the
    refund is read."""
    decision = choose(Decision, decision, field="decision")
    refund = lock(session, refund_id)
    inst = in_regulator_scope(session, regulator, refund.institution_id)
    refuse_unless_disputed("refund", refund.status)
    audit_decision(session, regulator=regulator, kind="refund", subject=refund.id,
                   decision=decision.value, reason=reason, now=now, institution=inst)  # fmt: skip
    if decision is Decision.APPROVE:
        return accept(session, refund=refund, now=now, note=f"approved by regulator: {reason}")
    _release_lessons(session, refund)
    _event(session, refund, "denied", now, reason)
    session.flush()
    return refund


def _release_lessons(session: Session, refund: Refund) -> None:
    e = enrollments.lock(session, refund.enrollment_id)
    e.lessons_refunded -= refund.lessons
    e.amount_refunded -= refund.amount
    enrollments.settle_status(e)


def escalate_overdue(
    session: Session, *, as_of: datetime, now: datetime, region_prefix: str | None = None
) -> dict[str, Any]:
    """`refund_escalation`: accept every refund still `requested` after its `respond_by` as of
    `as_of` (never later than now), recording the acceptance at `now`."""
    stmt = select(Refund).where(overdue(as_of))
    if region_prefix is not None:
        stmt = stmt.where(
            Refund.institution_id.in_(
                select(Institution.id).where(Institution.region_code.startswith(region_prefix))
            )
        )
    accepted = 0
    for refund in _lock_due(session, stmt):
        refund.escalated = True
        accept(
            session,
            refund=refund,
            now=now,
            note="no answer by respond_by: accepted automatically",
        )
        accepted += 1
    return {"refunds_accepted": accepted}


def _lock_due(session: Session, stmt: Select[tuple[Refund]]) -> list[Refund]:
    """The due refunds and their enrollments, all locked before the first ledger row: refunds,
    then enrollments, each in id order, as every writer takes them. Locked one by one between
    acceptances, an escalation held one institution's ledger while it waited for the next
    refund, whose institution was answering it and waited for that ledger (deadlocks in the
    chaos soak). A refund another request holds is skipped: it is being answered now, and a
    later run takes it if it is still due. Accepted institution by institution."""
    locked = stmt.order_by(Refund.id).with_for_update(of=Refund, skip_locked=True)
    due = list(session.scalars(locked.execution_options(populate_existing=True)))
    for enrollment_id in sorted({r.enrollment_id for r in due}):
        enrollments.lock(session, enrollment_id)
    return sorted(due, key=lambda r: (r.institution_id, r.id))


def on_paid(session: Session, ins: Instruction, now: datetime) -> Callable[[], None]:
    refund = lock(session, str(ins.subject_id))
    _event(session, refund, "paid", now, f"bank_txn_id {ins.result_bank_txn_id}")
    # The day's counters once the ledger has posted the hold: the lock order of every use case.
    return lambda: rollups.bump(
        session, institution_id=refund.institution_id, at=now, prepaid_delta=-refund.amount
    )


def on_failed(session: Session, ins: Instruction, now: datetime) -> Callable[[], None] | None:
    refund = lock(session, str(ins.subject_id))
    enrollments.lock(session, refund.enrollment_id)
    _event(session, refund, "failed", now, ins.result_reason or "rejected by the bank")
    inst = session.get(Institution, refund.institution_id)
    assert inst is not None
    if inst.status == "winding_down":
        # Settled first: the refund the bank would not pay is part of the parent's claim.
        _release_lessons(session, refund)
        claim = session.scalar(
            select(Claim).where(Claim.enrollment_id == refund.enrollment_id).with_for_update()
        )
        if claim is not None:
            claim.amount += refund.amount
            if claim.status == "paid":
                claim.status = "open"
        return None
    if (
        inst.supervision_mode != "reserve"
        or inst.reserve_account_no is None
        or ins.account_no == inst.reserve_account_no
    ):
        _release_lessons(session, refund)
        return None
    # The escrow could not pay: the refund is a failure (a risk signal either way), and under
    # risk-reserve supervision the reserve guarantees it. The draw needs the escrow hold
    # voided first, so it runs once the rejected instruction has settled.
    return lambda: _draw_on_reserve(session, refund, inst, now)


def _draw_on_reserve(session: Session, refund: Refund, inst: Institution, now: datetime) -> None:
    from service.flows import chart

    conn = session.connection()
    # Locked, so what they say still holds when the draw is made below.
    cash_id = chart.institution_account(conn, inst.id, "reserve_cash").id
    reserve_id = chart.institution_account(conn, inst.id, "reserve").id
    locked = ledger.locked_balances(conn, [cash_id, reserve_id])
    cash, reserve = locked[cash_id], locked[reserve_id]
    if min(cash.debit_available, reserve.credit_available) < refund.amount:
        _release_lessons(session, refund)
        _event(session, refund, "failed", now, "the risk reserve cannot cover the refund either")
        return
    _instruct(session, refund, inst, now, "reserve")


def timeline(session: Session, refund: Refund) -> list[RefundEvent]:
    """Every step the refund went through, in order."""
    return list(
        session.scalars(
            select(RefundEvent).where(RefundEvent.refund_id == refund.id).order_by(RefundEvent.seq)
        )
    )


def listed(
    session: Session,
    *,
    institutions: Select[tuple[str]] | str,
    status: str | None,
    paging: Paging,
) -> Paged[Refund]:
    """Refunds of one institution (its id) or of a set of them (a select of ids)."""
    stmt = select(Refund)
    if isinstance(institutions, str):
        stmt = stmt.where(Refund.institution_id == institutions)
    else:
        stmt = stmt.where(Refund.institution_id.in_(institutions))
    if status is not None:
        stmt = stmt.where(Refund.status == status)
    return page_rows(session, stmt, Refund.id, paging)


def of_enrollment(session: Session, enrollment_id: str) -> list[Refund]:
    """An enrollment's refunds, newest first."""
    return list(
        session.scalars(
            select(Refund)
            .where(Refund.enrollment_id == enrollment_id)
            .order_by(Refund.requested_at.desc(), Refund.id.desc())
        )
    )


def of_parent(session: Session, *, enrollment_id: str, refund_id: str) -> Refund:
    r = session.get(Refund, refund_id)
    if r is None or r.enrollment_id != enrollment_id:
        raise DomainError("not_found", f"no refund {refund_id}")
    return r
