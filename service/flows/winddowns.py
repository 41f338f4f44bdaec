"""Wind-downs (docs/winddown.md): an institution that closed, absconded or lost its licence is
wound up by a regulator. Opening it, as of its effective instant:

- the institution is `winding_down`: it enrolls nobody, reports no lessons, is released
  nothing, and the bank gate refuses deposits to it (`institution_winding_down`, the bank
  returns them) except recoveries carrying the wind-down's payment reference;
- every hold on its parents' money is resolved: refunds not yet instructed are closed into the
  claim, lessons disputed in their window (and any reported as held after the effective
  instant) are reversed to the parent; refunds already with the bank settle by the bank's
  answer (a rejected one adds its amount back to the claim, `refund_failed`);
- each reviewed statement break where the bank reported money leaving escrow with no
  instruction is booked from escrow cash to a receivable from the institution, so the
  ledger's escrow is the bank's and the shortfall is a debt of the owner;
- each enrollment with unconsumed prepayment gets a claim: its prepaid balance, less any
  refund in flight.

Rounds and their payments are in service/flows/rounds.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

import ledger
from ledger.types import Money
from service.errors import DomainError
from service.flows import chart, consumptions, enrollments
from service.flows.models import (
    Claim,
    Consumption,
    Deposit,
    Enrollment,
    Instruction,
    Refund,
    RefundEvent,
    Statement,
    StatementBreak,
    WindDown,
    WindDownPayment,
    WindDownRound,
)
from service.kit.choices import choose
from service.kit.clock import local_date
from service.kit.db import collector_paused, insert_many
from service.kit.ids import new_id, new_payment_reference
from service.kit.paging import Paged, Paging, page_rows
from service.policy import packs
from service.registry.institutions import audit, in_regulator_scope, set_status
from service.registry.models import Institution, InstitutionStatus, Regulator
from service.registry.regions import in_scope

ZERO = Decimal("0.00")
CLOCK_SKEW = timedelta(minutes=5)
_CLAIMS = Claim.metadata.tables[Claim.__tablename__]


# Called with (session, the wind-down, now) once it is opened, in its transaction: the risk
# engine (service.risk.triggers, a layer above) registers its re-evaluation here, so the
# institution is judged by its wind-down at once, whichever door opened it.
OPENED: list[Callable[[Session, WindDown, datetime], None]] = []


class Reason(StrEnum):
    CLOSED = "closed"
    ABSCONDED = "absconded"
    REVOKED = "revoked"


@collector_paused()  # tens of thousands of rows built at once
def open_wind_down(
    session: Session,
    *,
    regulator: Regulator,
    institution_id: str,
    reason: Reason,
    effective_at: datetime,
    note: str,
    now: datetime,
) -> WindDown:
    """Open the wind-down of an institution of the regulator's region (see the module).
    Audited. A second one is `wind_down_exists`; an instant after now, `effective_in_future`."""
    reason = choose(Reason, reason, field="reason")
    if effective_at > now + CLOCK_SKEW:
        raise DomainError("effective_in_future", f"{effective_at.isoformat()} is after now")
    in_regulator_scope(session, regulator, institution_id)
    inst = session.get(Institution, institution_id, with_for_update=True, populate_existing=True)
    assert inst is not None
    _no_wind_down_yet(session, inst)
    actor = f"regulator:{regulator.id}"
    wd = WindDown(
        id=new_id("wdn"),
        institution_id=inst.id,
        reason=reason.value,
        effective_at=min(effective_at, now),
        note=note,
        payment_reference="WD" + new_payment_reference()[2:],
        status="open",
        opened_at=now,
        opened_by=actor,
        shortfall=ZERO,
    )
    session.add(wd)
    session.flush()
    # Business rows first (refunds, then lessons and their enrollments), the ledger after.
    _close_refunds(session, inst, now)
    _reverse_lessons(session, inst, wd.effective_at, now)
    why = note  # the officer's words; the wind-down's own record names its id and grounds
    set_status(
        session, institution=inst, status=InstitutionStatus.WINDING_DOWN, reason=why,
        actor=actor, now=now,
    )  # fmt: skip
    wd.shortfall = book_shortfalls(session, wd, inst, now)
    count, total = _make_claims(session, wd, inst, now)
    audit(session, actor=actor, action="wind_down:open", subject=wd.id,
          detail={"grounds": reason.value, "effective_at": wd.effective_at.isoformat(),
                  "note": note, "claims": count, "total": f"{total:.2f}",
                  "shortfall": f"{wd.shortfall:.2f}"},
          now=now, institution=inst)  # fmt: skip
    session.flush()
    for hook in OPENED:
        hook(session, wd, now)
    return wd


def _no_wind_down_yet(session: Session, inst: Institution) -> None:
    found = session.scalar(select(WindDown.id).where(WindDown.institution_id == inst.id))
    if found is not None:
        raise DomainError("wind_down_exists", f"the institution is being wound up: {found}")
    if inst.status == InstitutionStatus.WINDING_DOWN:  # pragma: no cover - the row says so
        raise DomainError("wind_down_exists", "the institution is being wound up")


def _close_refunds(session: Session, inst: Institution, now: datetime) -> None:
    """Refunds asked for and not yet with the bank: their lessons return to the enrollment,
    whose whole balance is the claim now. (`denied` is the refund's end that returns its
    lessons; the timeline says why, in words a parent reads.)"""
    open_ones = list(
        session.scalars(
            select(Refund)
            .where(
                Refund.institution_id == inst.id,
                Refund.status.in_(("requested", "accepted", "disputed")),
            )
            .order_by(Refund.id)
            .with_for_update()
        )
    )
    for e_id in sorted({r.enrollment_id for r in open_ones}):
        enrollments.lock(session, e_id)
    for r in open_ones:
        e = enrollments.lock(session, r.enrollment_id)
        e.lessons_refunded -= r.lessons
        e.amount_refunded -= r.amount
        enrollments.settle_status(e)
        seq = session.scalar(select(func.count()).where(RefundEvent.refund_id == r.id)) or 0
        r.status = "denied"
        session.add(
            RefundEvent(id=new_id("rfe"), refund_id=r.id, seq=seq + 1, status="denied", at=now,
                        note="the institution is being wound up: the balance is your claim "
                             "in the wind-down")
        )  # fmt: skip
    session.flush()


def _reverse_lessons(
    session: Session, inst: Institution, effective_at: datetime, now: datetime
) -> None:
    """Lessons that count as not consumed at the effective instant: disputed in their window,
    or held after it (and not released), go back to the parent's balance."""
    due = list(
        session.scalars(
            select(Consumption)
            .where(
                Consumption.institution_id == inst.id,
                Consumption.release_instruction_id.is_(None),
                (Consumption.status == "disputed")
                | (
                    Consumption.status.in_(("pending", "upheld"))
                    & (Consumption.occurred_at > effective_at)
                ),
            )
            .order_by(Consumption.id)
            .with_for_update()
        )
    )
    for e_id in sorted({c.enrollment_id for c in due}):
        enrollments.lock(session, e_id)
    for c in sorted(due, key=lambda c: c.id):
        consumptions.reverse(session, c, now)


def book_shortfalls(session: Session, wd: WindDown, inst: Institution, now: datetime) -> Decimal:
    """Book every reviewed `missing_in_ledger` debit of the escrow account (money the bank
    reported leaving with no instruction) from escrow cash to the receivable from the
    institution, once each (the transfer's idempotency key is the break). Returns the total
    booked for this wind-down so far."""
    conn = session.connection()
    breaks = list(
        session.execute(
            select(StatementBreak.id, StatementBreak.actual)
            .join(Statement, Statement.id == StatementBreak.statement_id)
            .where(
                Statement.institution_id == inst.id,
                Statement.account_no == inst.escrow_account_no,
                Statement.reviewed_at.is_not(None),
                StatementBreak.kind == "missing_in_ledger",
                StatementBreak.direction == "debit",
                StatementBreak.actual.is_not(None),
            )
            .order_by(StatementBreak.id)
        )
    )
    receivable = receivable_account(conn, inst, now)
    cash = chart.institution_account(conn, inst.id, "escrow_cash").id
    ops: list[ledger.Operation] = [
        ledger.NewTransfer(
            debit_account_id=receivable.id,
            credit_account_id=cash,
            amount=amount,
            code="shortfall",
            reference=f"break:{break_id}",
            idempotency_key=f"shortfall:{break_id}",
        )
        for break_id, amount in breaks
        if amount > 0
    ]
    if ops:
        ledger.batch(conn, ops, at=now)
    return ledger.balance(conn, receivable.id).debits_posted


def receivable_account(conn: Connection, inst: Institution, now: datetime) -> ledger.Account:
    """What the institution owes the wind-down (opened on first use: only wound-up
    institutions have one)."""
    return ledger.open_account(
        conn, ledger=inst.id, kind="receivable", owner=inst.id, at=now,
        credits_must_not_exceed_debits=True,
    )  # fmt: skip


def _make_claims(
    session: Session, wd: WindDown, inst: Institution, now: datetime
) -> tuple[int, Decimal]:
    """A claim for each enrollment whose prepaid account holds anything not on its way to the
    parent already: its balance less the holds of refunds in flight."""
    session.flush()
    held = ledger.owned_accounts(session.connection(), ledger=inst.id, kind="prepaid")
    # A balance wholly on its way back by a refund is a claim of nothing for now: the bank's
    # answer settles it (a rejected refund adds its amount: refunds.on_failed).
    owed = [(o, b.credit_available) for o, (_, b) in sorted(held.items()) if b.credit_balance > 0]
    owed = _with_interest(session, wd, inst, owed, {o: acc for o, (acc, _) in held.items()}, now)
    rows = [
        {"id": new_id("clm"), "wind_down_id": wd.id, "enrollment_id": owner, "amount": amount,
         "allocated": ZERO, "paid": ZERO, "in_flight": ZERO, "held": ZERO,
         "status": "open" if amount > 0 else "paid", "payee_account_no": None,
         "successor_institution_id": None, "created_at": now, "transferred": ZERO}
        for owner, amount in owed
    ]  # fmt: skip
    insert_many(session, _CLAIMS, rows)
    return len(rows), sum((a for _, a in owed), ZERO)


def interest(principal: Decimal, rate: Decimal, days: int) -> Decimal:
    """Simple interest, to the fen (half up): principal × annual rate × days / 365."""
    return (principal * rate * days / 365).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _with_interest(
    session: Session,
    wd: WindDown,
    inst: Institution,
    owed: list[tuple[str, Decimal]],
    accounts: dict[str, str],
    now: datetime,
) -> list[tuple[str, Decimal]]:
    """Where the region's `wind_down` rule sets an annual rate (法释〔2025〕4号: the balance with
    interest), each claim is its balance plus simple interest from the effective day to the
    opening day (Beijing), booked as the institution's debt: receivable → the parent's prepaid
    account (docs/winddown.md "Interest")."""
    rate = packs.for_institution(session, inst, on=local_date(now))
    annual = rate.values.wind_down.interest_rate_annual
    days = (local_date(now) - local_date(wd.effective_at)).days
    if not annual or days <= 0:
        return owed
    receivable = receivable_account(session.connection(), inst, now).id
    added = [(o, a, interest(a, annual, days)) for o, a in owed]
    ops: list[ledger.Operation] = [
        ledger.NewTransfer(
            debit_account_id=receivable,
            credit_account_id=accounts[o],
            amount=i,
            code="wind_down_interest",
            reference=f"wind_down:{wd.id}",
            idempotency_key=f"wind_down_interest:{wd.id}:{o}",
        )
        for o, _, i in added
        if i > 0
    ]
    if ops:
        ledger.batch(session.connection(), ops, at=now)
    return [(o, a + i) for o, a, i in added]


# ---- reading ------------------------------------------------------------------------------


def of_regulator(session: Session, *, regulator: Regulator, wind_down_id: str) -> WindDown:
    """A wind-down of an institution of the regulator's region; any other is `not_found`."""
    wd = session.get(WindDown, wind_down_id)
    if wd is None:
        raise DomainError("not_found", f"no wind-down {wind_down_id}")
    inst = session.get(Institution, wd.institution_id)
    if inst is None or not in_scope(regulator.region_code, inst.region_code):
        raise DomainError("not_found", f"no wind-down {wind_down_id}")
    return wd


def of_institution(session: Session, institution_id: str) -> WindDown | None:
    return session.scalar(select(WindDown).where(WindDown.institution_id == institution_id))


def lock(session: Session, wind_down_id: str) -> WindDown:
    wd = session.get(WindDown, wind_down_id, with_for_update=True, populate_existing=True)
    if wd is None:
        raise DomainError("not_found", f"no wind-down {wind_down_id}")
    return wd


@dataclass(frozen=True, kw_only=True)
class ClaimsSummary:
    count: int
    total: Decimal
    paid: Decimal
    outstanding: Decimal
    unreachable: int


@dataclass(frozen=True, kw_only=True)
class Funds:
    """The wind-down's money. `escrow` and `reserve` are the ledger's cash (the escrow equal
    to the bank's once the shortfall is booked); `available` is what a round may allocate."""

    escrow: Decimal
    reserve: Decimal
    recovered: Decimal
    paid_out: Decimal
    in_flight: Decimal
    held: Decimal
    escrow_available: Decimal
    reserve_available: Decimal
    escrow_spendable: Decimal  # escrow cash less holds and suspense: what may leave escrow

    @property
    def available(self) -> Decimal:
        return self.escrow_available + self.reserve_available


@dataclass(frozen=True, kw_only=True)
class RoundView:
    round: WindDownRound
    status: str  # instructed (payments with the bank) | settled


@dataclass(frozen=True, kw_only=True)
class Overview:
    wind_down: WindDown
    claims: ClaimsSummary
    money: Funds
    rounds: list[RoundView]


def overview(session: Session, wd: WindDown) -> Overview:
    inst = session.get(Institution, wd.institution_id)
    assert inst is not None
    return Overview(
        wind_down=wd, claims=summary(session, wd), money=funds(session, wd, inst),
        rounds=rounds_of(session, wd),
    )  # fmt: skip


def outstanding(claim: Claim) -> Decimal:
    """What the wind-down still owes the parent: nothing once the claim is transferred (the
    successor teaches the lessons left; service/flows/successors.py)."""
    return ZERO if claim.successor_institution_id else claim.amount - claim.paid


def summary(session: Session, wd: WindDown) -> ClaimsSummary:
    m = Money()
    moved = Claim.successor_institution_id.is_not(None)
    count, total, paid, unreachable, settled = session.execute(
        select(
            func.count(Claim.id),
            func.sum(Claim.amount, type_=m),
            func.sum(Claim.paid, type_=m),
            func.count(Claim.id).filter(Claim.status == "unreachable"),
            func.sum(Claim.amount - Claim.paid, type_=m).filter(moved),
        ).where(Claim.wind_down_id == wd.id)
    ).one()
    total, paid, settled = total or ZERO, paid or ZERO, settled or ZERO
    return ClaimsSummary(
        count=count, total=total, paid=paid, outstanding=total - paid - settled,
        unreachable=unreachable,
    )  # fmt: skip


def funds(session: Session, wd: WindDown, inst: Institution) -> Funds:
    """What the wind-down has: cash less what is spoken for (holds of instructions in flight,
    suspense, which belongs to whoever sent it, and allocations held for unreachable
    parents)."""
    conn = session.connection()
    kinds = ["escrow_cash", "suspense", "reserve_cash", "reserve"]
    ids = {k: chart.institution_account(conn, inst.id, k).id for k in kinds}
    bal = ledger.balances(conn, list(ids.values()))
    cash, suspense = bal[ids["escrow_cash"]], bal[ids["suspense"]]
    m = Money()
    held, in_flight, paid = session.execute(
        select(
            func.sum(Claim.held, type_=m),
            func.sum(Claim.in_flight, type_=m),
            func.sum(Claim.paid, type_=m),
        ).where(Claim.wind_down_id == wd.id)
    ).one()
    held, in_flight, paid = held or ZERO, in_flight or ZERO, paid or ZERO
    recovered = session.scalar(
        select(func.sum(Deposit.amount, type_=m)).where(
            Deposit.institution_id == inst.id, Deposit.status == "recovered"
        )
    )
    reserve_avail = ZERO
    if inst.reserve_account_no is not None:
        r_cash, r_liab = bal[ids["reserve_cash"]], bal[ids["reserve"]]
        reserve_avail = max(ZERO, min(r_cash.debit_available, r_liab.credit_available))
    escrow_avail = max(ZERO, cash.debit_available - suspense.credit_available - held)
    return Funds(
        escrow=cash.debit_balance, reserve=bal[ids["reserve_cash"]].debit_balance,
        recovered=recovered or ZERO, paid_out=paid, in_flight=in_flight, held=held,
        escrow_available=escrow_avail, reserve_available=reserve_avail,
        escrow_spendable=max(ZERO, cash.debit_available - suspense.credit_available),
    )  # fmt: skip


def rounds_of(session: Session, wd: WindDown) -> list[RoundView]:
    rounds = list(
        session.scalars(
            select(WindDownRound)
            .where(WindDownRound.wind_down_id == wd.id)
            .order_by(WindDownRound.seq)
        )
    )
    busy = set(
        session.scalars(
            select(WindDownPayment.round_id)
            .where(
                WindDownPayment.round_id.in_([r.id for r in rounds]),
                WindDownPayment.status == "instructed",
            )
            .distinct()
        )
    )
    return [RoundView(round=r, status="instructed" if r.id in busy else "settled") for r in rounds]


def claims(session: Session, wd: WindDown, paging: Paging) -> Paged[Claim]:
    stmt = select(Claim).where(Claim.wind_down_id == wd.id)
    return page_rows(session, stmt, Claim.id, paging)


def payments_of(session: Session, claim_ids: Iterable[str]) -> dict[str, list[WindDownPayment]]:
    """The payments of these claims, oldest first, with their instructions' bank ids."""
    out: dict[str, list[WindDownPayment]] = {}
    ids = list(claim_ids)
    if not ids:
        return out
    conn = session.connection()
    for p in session.scalars(
        select(WindDownPayment)
        .where(ledger.one_of(conn, WindDownPayment.claim_id, ids))
        .order_by(WindDownPayment.created_at, WindDownPayment.id)
    ):
        out.setdefault(p.claim_id, []).append(p)
    return out


def instructions_of(session: Session, ids: Iterable[str]) -> dict[str, Instruction]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    conn = session.connection()
    return {
        i.id: i
        for i in session.scalars(
            select(Instruction).where(ledger.one_of(conn, Instruction.id, wanted))
        )
    }


def claim_of_enrollment(session: Session, enrollment_id: str) -> Claim | None:
    return session.scalar(select(Claim).where(Claim.enrollment_id == enrollment_id))


def enrollment_of(session: Session, claim: Claim) -> Enrollment:
    e = session.get(Enrollment, claim.enrollment_id)
    assert e is not None
    return e


@dataclass(frozen=True, kw_only=True)
class ParentPart:
    round_seq: int
    amount: Decimal
    status: str  # instructed | paid | rejected | held
    paid_at: datetime | None


@dataclass(frozen=True, kw_only=True)
class ParentView:
    """What a parent sees of the wind-down: their claim and every part of it paid or on its
    way, round by round."""

    wind_down: WindDown
    claim: Claim
    parts: list[ParentPart]


def of_parent(session: Session, enrollment_id: str) -> ParentView:
    claim = claim_of_enrollment(session, enrollment_id)
    if claim is None:
        raise DomainError("not_found", "this enrollment has no claim in a wind-down")
    wd = session.get(WindDown, claim.wind_down_id)
    assert wd is not None
    seqs = {
        k: v
        for k, v in session.execute(
            select(WindDownRound.id, WindDownRound.seq).where(WindDownRound.wind_down_id == wd.id)
        )
    }
    parts = [
        ParentPart(round_seq=seqs[p.round_id], amount=p.amount, status=p.status,
                   paid_at=p.settled_at if p.status == "paid" else None)
        for p in payments_of(session, [claim.id]).get(claim.id, [])
    ]  # fmt: skip
    return ParentView(wind_down=wd, claim=claim, parts=parts)


@dataclass(frozen=True, kw_only=True)
class LedgerLine:
    """One line of a wind-down's ledger for a court or an administrator: a claim, with one of
    its payments (None: a claim never paid), and the ids the bank can trace."""

    claim: Claim
    student_ref: str
    payment: WindDownPayment | None
    round_seq: int | None
    instruction: Instruction | None


def ledger_lines(session: Session, wd: WindDown) -> list[LedgerLine]:
    """Every claim with every payment made on it, by enrollment, oldest payment first: the one
    reading both exports (the API's and the workbench's) write."""
    rows = list(
        session.execute(
            select(Claim, Enrollment.student_ref)
            .join(Enrollment, Enrollment.id == Claim.enrollment_id)
            .where(Claim.wind_down_id == wd.id)
            .order_by(Claim.enrollment_id)
        ).tuples()
    )
    payments = payments_of(session, [c.id for c, _ in rows])
    seqs = {
        k: v
        for k, v in session.execute(
            select(WindDownRound.id, WindDownRound.seq).where(WindDownRound.wind_down_id == wd.id)
        )
    }
    ins = instructions_of(
        session, [str(p.instruction_id) for ps in payments.values() for p in ps if p.instruction_id]
    )
    out: list[LedgerLine] = []
    for c, student in rows:
        mine = payments.get(c.id, [])
        if not mine:
            out.append(LedgerLine(claim=c, student_ref=student, payment=None, round_seq=None,
                                  instruction=None))  # fmt: skip
        for p in mine:
            line = LedgerLine(claim=c, student_ref=student, payment=p,
                              round_seq=seqs.get(p.round_id),
                              instruction=ins.get(p.instruction_id or ""))  # fmt: skip
            out.append(line)
    return out
