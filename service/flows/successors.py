"""Successor schools (docs/winddown.md "Successor schools"): a regulator offers a wind-down's
parents a willing institution (active, of the regulator's region, with an approved course of
the same category that has sessions for the lessons left); each parent accepts or declines on
their page before the offer's deadline.

Accepting moves the claim's money from the failed school's escrow (or reserve) to the
successor's escrow by one bank instruction (`purpose: wind_down_transfer`, `kind: transfer`),
through the one instruction path: the ledger holds it from the parent's prepaid account at
the failed school, as a round's payment is held. The enrollment continues at the successor as a
new enrollment of the lessons left, awaiting that money; when the bank executes the transfer
the money is booked into the successor's escrow as the deposit that pays it (the same bank's
transaction id, so the successor's statement matches it). The claim is `transferred`: no
later round pays it.

The claim's money: what the claim was allocated and not paid (held for an unreachable parent),
plus its share of the money available as a round would share it now, pro rata to what each
claim has not yet been given. Where the money covers every claim that is the claim's whole
outstanding part; where it does not, moving the whole would pay one parent ahead of the others
of the same class (民办教育促进法 Art. 59), so the claim's pro-rata share goes with the
student and the successor, willing, teaches the lessons left for it.

Lock order, as rounds take it: the wind-down's row, then the claim, then the ledger. Two
accepts at once queue on the wind-down's row; the second finds the offer accepted and answers
what the first did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees.models import Course, CourseSession
from service.flows import chart, deposits, enrollments, instructions, rounds, winddowns
from service.flows.models import Claim, Enrollment, Instruction, SuccessorOffer, WindDown
from service.kit.clock import local_date
from service.kit.ids import new_id, new_payment_reference
from service.kit.money import format_money
from service.policy import packs
from service.registry.institutions import audit
from service.registry.models import Bank, Institution, Regulator
from service.registry.regions import in_scope

ZERO = Decimal("0.00")
# How long a parent has to decide. No rule pack sets it; two weeks is the notice the demo's
# regions give for a change of provider (docs/winddown.md "Successor schools").
OFFER_LIFETIME = timedelta(days=14)
LIVE = ("offered", "accepted")
Decision = Literal["accept", "decline"]


# ---- offering -------------------------------------------------------------------------------


def make_offers(
    session: Session,
    *,
    regulator: Regulator,
    wind_down_id: str,
    successor_institution_id: str,
    enrollment_ids: list[str] | None,
    now: datetime,
) -> list[SuccessorOffer]:
    """Offer the successor to the named claims (None: every claim it can take). Audited."""
    winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    wd = winddowns.lock(session, wind_down_id)
    if wd.status != "open":
        raise DomainError("invalid_state", "the wind-down is closed", extra={"state": wd.status})
    successor = _successor(session, regulator, successor_institution_id)
    courses = _courses_taking(session, successor, now)
    if not courses:
        raise DomainError("successor_no_course", f"{successor.name} has no course with sessions")
    offers: list[SuccessorOffer] = []
    for claim, e in _claims_to_offer(session, wd, enrollment_ids, now):
        lessons = enrollments.remaining_lessons(e)
        course = _course_for(session, courses, e, lessons)
        if course is None and enrollment_ids is not None:
            raise DomainError(
                "successor_no_course",
                f"{successor.name} has no course of this category with {lessons} sessions left "
                f"(enrollment {e.id})",
            )
        if course is not None:
            offers.append(SuccessorOffer(
                id=new_id("sof"), wind_down_id=wd.id, claim_id=claim.id,
                successor_institution_id=successor.id, course_id=course.id, lessons=lessons,
                status="offered", offered_at=now, offered_by=f"regulator:{regulator.id}",
                expires_at=now + OFFER_LIFETIME,
            ))  # fmt: skip
    if not offers:
        raise DomainError("nothing_to_offer", "no claim this successor can take is open")
    session.add_all(offers)
    inst = session.get(Institution, wd.institution_id)
    audit(session, actor=f"regulator:{regulator.id}", action="wind_down:successor_offer",
          subject=wd.id, detail={"successor_institution_id": successor.id,
                                 "offers": len(offers),
                                 "expires_at": (now + OFFER_LIFETIME).isoformat()},
          now=now, institution=inst)  # fmt: skip
    session.flush()
    return offers


def _successor(session: Session, regulator: Regulator, institution_id: str) -> Institution:
    inst = session.get(Institution, institution_id)
    if inst is None or not in_scope(regulator.region_code, inst.region_code):
        raise DomainError(
            "successor_out_of_scope", f"no institution {institution_id} in your region"
        )
    _active(inst)
    return inst


def _active(inst: Institution) -> None:
    if inst.status != "active" or inst.closing_on is not None:
        state = inst.status if inst.closing_on is None else "closing"
        raise DomainError("successor_not_active", f"{inst.name} is {state}", extra={"state": state})


def _courses_taking(session: Session, successor: Institution, now: datetime) -> list[_Taking]:
    """The successor's approved courses with sessions after now, and how many, in id order."""
    # Not dict(result): a result has `keys()`, which dict() takes for a mapping's.
    left: dict[str, int] = {
        course_id: count
        for course_id, count in session.execute(
            select(CourseSession.course_id, func.count())
            .join(Course, Course.id == CourseSession.course_id)
            .where(
                Course.institution_id == successor.id,
                Course.status == "approved",
                CourseSession.starts_at > now,
            )
            .group_by(CourseSession.course_id)
        )
    }
    courses = session.scalars(select(Course).where(Course.id.in_(sorted(left))).order_by(Course.id))
    return [_Taking(course=c, sessions_left=left[c.id]) for c in courses]


@dataclass(frozen=True, kw_only=True)
class _Taking:
    course: Course
    sessions_left: int


def _sessions_left(session: Session, course_id: str, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(CourseSession.seq)
            .where(CourseSession.course_id == course_id, CourseSession.starts_at > now)
            .order_by(CourseSession.seq)
        )
    )


def _course_for(
    session: Session, courses: list[_Taking], e: Enrollment, lessons: int
) -> Course | None:
    """The course that takes the lessons: same category as the student's, enough sessions
    after now; the same subject first."""
    mine = session.get(Course, e.course_id)
    assert mine is not None
    fits = [t.course for t in courses
            if t.course.category == mine.category and t.sessions_left >= lessons]  # fmt: skip
    fits.sort(key=lambda c: (c.subject != mine.subject, c.id))
    return fits[0] if fits else None


def _claims_to_offer(
    session: Session, wd: WindDown, enrollment_ids: list[str] | None, now: datetime
) -> list[tuple[Claim, Enrollment]]:
    stmt = select(Claim).where(Claim.wind_down_id == wd.id)
    if enrollment_ids is not None:
        stmt = stmt.where(Claim.enrollment_id.in_(sorted(set(enrollment_ids))))
    claims = list(session.scalars(stmt.order_by(Claim.id).with_for_update()))
    if enrollment_ids is not None:
        missing = sorted(set(enrollment_ids) - {c.enrollment_id for c in claims})
        if missing:
            raise DomainError("not_found", f"no claim of enrollment {missing[0]} here")
    busy = set(
        session.scalars(
            select(SuccessorOffer.claim_id).where(
                SuccessorOffer.wind_down_id == wd.id,
                (SuccessorOffer.status == "accepted")
                | ((SuccessorOffer.status == "offered") & (SuccessorOffer.expires_at > now)),
            )
        )
    )
    out: list[tuple[Claim, Enrollment]] = []
    for c in claims:
        e = winddowns.enrollment_of(session, c)
        state = _unofferable(c, e, busy)
        if state is None:
            out.append((c, e))
        elif enrollment_ids is not None:
            raise DomainError("claim_not_offerable", f"the claim of {e.id} is {state}",
                              extra={"state": state})  # fmt: skip
    return out


def _unofferable(c: Claim, e: Enrollment, busy: set[str]) -> str | None:
    if c.status == "transferred":
        return "transferred"
    if c.paid >= c.amount:
        return "paid"
    if enrollments.remaining_lessons(e) <= 0:
        return "no_lessons_left"
    if c.id in busy:
        return "offered"
    return None


# ---- reading --------------------------------------------------------------------------------


def status_of(offer: SuccessorOffer, now: datetime) -> str:
    """The offer's state as a reader sees it: an offer past its deadline is `expired`."""
    if offer.status == "offered" and offer.expires_at <= now:
        return "expired"
    return offer.status


def latest_of_claim(session: Session, claim_id: str) -> SuccessorOffer | None:
    return session.scalar(
        select(SuccessorOffer)
        .where(SuccessorOffer.claim_id == claim_id)
        .order_by(SuccessorOffer.offered_at.desc(), SuccessorOffer.id.desc())
        .limit(1)
    )


def listed(
    session: Session, *, wind_down_id: str, ids: list[str] | None = None
) -> list[tuple[SuccessorOffer, str]]:
    """A wind-down's offers (these ones, if named), oldest first, each with the enrollment
    its claim is of."""
    stmt = (
        select(SuccessorOffer, Claim.enrollment_id)
        .join(Claim, Claim.id == SuccessorOffer.claim_id)
        .where(SuccessorOffer.wind_down_id == wind_down_id)
    )
    if ids is not None:
        stmt = stmt.where(SuccessorOffer.id.in_(ids))
    order = (SuccessorOffer.offered_at, SuccessorOffer.id)
    return [(o, str(e)) for o, e in session.execute(stmt.order_by(*order)).tuples()]


# ---- the parent's decision ------------------------------------------------------------------


def decide(
    session: Session, *, enrollment_id: str, decision: Decision, now: datetime
) -> SuccessorOffer:
    """The parent accepts or declines the latest offer on their claim. The same decision
    again answers the offer as it stands; the other one is `offer_decided`."""
    found = winddowns.claim_of_enrollment(session, enrollment_id)
    if found is None:
        raise DomainError("not_found", "this enrollment has no claim in a wind-down")
    wd = winddowns.lock(session, found.wind_down_id)  # rounds and accepts queue here
    claim = session.get(Claim, found.id, with_for_update=True, populate_existing=True)
    assert claim is not None
    offer = latest_of_claim(session, claim.id)
    if offer is None:
        raise DomainError("not_found", "no successor school was offered for this claim")
    offer = session.get(SuccessorOffer, offer.id, with_for_update=True, populate_existing=True)
    assert offer is not None
    done = ("accepted", "transferred") if decision == "accept" else ("declined",)
    if offer.status in done:
        return offer
    if offer.status != "offered":
        raise DomainError("offer_decided", f"the offer is {offer.status}",
                          extra={"state": offer.status})  # fmt: skip
    if offer.expires_at <= now:
        raise DomainError("offer_expired", f"the offer expired at {offer.expires_at.isoformat()}")
    over = None
    if decision == "accept":
        over = _accept(session, wd, claim, offer, now)
    else:
        offer.status, offer.decided_at = "declined", now
    inst = session.get(Institution, wd.institution_id)
    audit(session, actor=f"parent:{enrollment_id}", action=f"wind_down:offer_{decision}",
          subject=offer.id, detail={"wind_down_id": wd.id, "claim_id": claim.id,
                                    "successor_institution_id": offer.successor_institution_id,
                                    "amount": None if offer.amount is None
                                    else f"{offer.amount:.2f}"}
                                   | ({"consumer_cap": over} if over else {}),
          now=now, institution=inst)  # fmt: skip
    session.flush()
    return offer


def _accept(
    session: Session, wd: WindDown, claim: Claim, offer: SuccessorOffer, now: datetime
) -> dict[str, str] | None:
    """The claim moved to the successor. What the consumer then holds there, where that is
    over the successor's per-consumer cap (else None): the transfer is made all the same."""
    if claim.in_flight > 0:
        raise DomainError("claim_payment_in_flight",
                          f"{claim.in_flight:.2f} of this claim is with the bank")  # fmt: skip
    if claim.successor_institution_id is not None or claim.paid >= claim.amount:
        raise DomainError("claim_not_offerable", f"the claim is {claim.status}",
                          extra={"state": claim.status})  # fmt: skip
    inst = session.get(Institution, wd.institution_id)
    successor = session.get(Institution, offer.successor_institution_id)
    assert inst is not None and successor is not None
    _active(successor)
    old = enrollments.lock(session, claim.enrollment_id)
    # The consumer's orders at the successor wait for this one: an order judged beside it
    # counts it (a transfer is never refused by the per-consumer cap; docs/rules.md).
    enrollments.one_at_a_time(session, successor.id, old.student_ref)
    money = winddowns.funds(session, wd, inst)
    share = _share(session, wd, claim, money.available)
    amount = claim.held + share
    source = _source(inst, money, claim, amount)
    new = _successor_enrollment(session, offer, old, successor, amount, now)
    cap = _consumer_cap(session, successor, new, now)
    # The reference carried over is the failed institution's: the successor names the member
    # before it reports a lesson on it (name_member), so one it knew is not counted apart.
    new.member_to_name = cap is not None
    over = _over(session, successor, new.student_ref, cap, new.amount_due, now)
    claim.allocated += share
    claim.held = ZERO
    claim.successor_institution_id = successor.id
    claim.status = "transferred"
    offer.status, offer.decided_at = "accepted", now
    offer.amount, offer.share, offer.successor_enrollment_id = amount, share, new.id
    if amount == 0:  # nothing to move: the successor takes the lessons as they are
        new.status, new.paid_at = "active", now
        offer.status = "transferred"
        return over
    prepaid = chart.prepaid_account(session.connection(), inst.id, old.id, at=now).id
    payee = {"account_no": successor.escrow_account_no, "institution_id": successor.id,
             "payment_reference": new.payment_reference}  # fmt: skip
    ins = instructions.create(
        session, institution=inst, purpose="wind_down_transfer", kind="transfer",
        subject_id=offer.id, debit_kind_or_account=prepaid, amount=amount, payee=payee,
        now=now, source=source,
    )  # fmt: skip
    claim.in_flight += amount
    offer.instruction_id = ins.id
    return over


def _consumer_cap(
    session: Session, successor: Institution, new: Enrollment, now: datetime
) -> Decimal | None:
    """The successor's per-consumer cap for the enrollment's sector (Shanghai's fitness
    rules: 20,000 yuan held by one consumer at one operator), or None."""
    course = session.get(Course, new.course_id)
    assert course is not None
    sector = packs.sector_of("fitness" if successor.category == "fitness" else course.category)
    pack = packs.resolve(session, successor.region_code, sector, on=local_date(now))
    return pack.values.prepay_caps.per_consumer


def _over(
    session: Session, successor: Institution, student_ref: str, cap: Decimal | None,
    transferred: Decimal, now: datetime,
) -> dict[str, str] | None:  # fmt: skip
    """A transfer is not held to the successor's per-consumer cap: the regulator moved the
    consumer, and refusing would leave them a refund claim only. But the transferred
    enrollment is theirs at the successor, so it counts in what they hold there
    (`enrollments.held_by`): their next orders are refused until it is used or refunded below
    the cap. Where the transfer itself takes them over (on acceptance, or once the successor
    names the member), the audit says so (`consumer_cap`), for the regulator to see."""
    if cap is None:
        return None
    held = enrollments.held_by(session, successor.id, student_ref, at=now)
    if held <= cap:
        return None
    return {"limit": format_money(cap), "held": format_money(held),
            "transferred": format_money(transferred)}  # fmt: skip


def name_member(
    session: Session, *, institution: Institution, enrollment_id: str, student_ref: str,
    now: datetime,
) -> Enrollment:  # fmt: skip
    """The successor names the member a transferred enrollment is: its own reference for the
    consumer (the one carried over, for a member new to it). The service knows a consumer only
    by the institution's reference, and the transfer carried the failed institution's, so a
    member the successor already knew would be counted apart and the per-consumer cap split;
    until named, the enrollment takes no lesson report (409 `member_not_named`). The same
    name again answers as it stands; another, once named, is `invalid_state`."""
    e = enrollments.own(session, institution, enrollment_id)
    e = enrollments.lock(session, e.id)
    if not e.member_to_name:
        if e.student_ref == student_ref and _transferred(session, e.id):
            return e
        raise DomainError("invalid_state", "only a transferred enrollment whose member is not "
                          "yet named may be named", extra={"state": e.status})  # fmt: skip
    carried = e.student_ref
    for ref in sorted({carried, student_ref}):  # one order: two namings at once never deadlock
        enrollments.one_at_a_time(session, institution.id, ref)
    e.student_ref, e.member_to_name = student_ref, False
    session.flush()
    over = _over(session, institution, student_ref, _consumer_cap(session, institution, e, now),
                 e.amount_due, now)  # fmt: skip
    audit(session, actor=f"institution:{institution.id}", action="enrollment:member_named",
          subject=e.id, detail={"carried": carried, "student_ref": student_ref}
          | ({"consumer_cap": over} if over else {}), now=now, institution=institution)  # fmt: skip
    return e


def _transferred(session: Session, enrollment_id: str) -> bool:
    found = session.scalar(
        select(func.count()).where(SuccessorOffer.successor_enrollment_id == enrollment_id)
    )
    return bool(found)


def _share(session: Session, wd: WindDown, claim: Claim, available: Decimal) -> Decimal:
    """The claim's part of the money available, as a round sharing all of it now would give
    it: pro rata to what each claim not transferred has not yet been given (in full where
    the money covers them all), half up to the fen."""
    unallocated = session.scalar(
        select(func.sum(Claim.amount - Claim.allocated)).where(
            Claim.wind_down_id == wd.id,
            Claim.successor_institution_id.is_(None),
            Claim.amount > Claim.allocated,
        )
    )
    total = Decimal(unallocated or 0)
    mine = claim.amount - claim.allocated
    if mine <= 0 or total <= 0:
        return ZERO
    if available >= total:
        return mine
    exact = mine * available / total
    return min(mine, exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _source(
    inst: Institution, money: winddowns.Funds, claim: Claim, amount: Decimal
) -> Literal["escrow", "reserve"]:
    """One instruction, so one account: the escrow where it holds the amount, else the
    reserve (the claim's own held part is escrow cash already set aside for it)."""
    if amount <= money.escrow_available + claim.held:
        return "escrow"
    if inst.reserve_account_no is not None and amount <= money.reserve_available:
        return "reserve"
    raise DomainError(
        "transfer_not_covered",
        f"{amount:.2f} to move; the escrow has {money.escrow_available + claim.held:.2f} and "
        f"the reserve {money.reserve_available:.2f} for it",
    )


def _successor_enrollment(
    session: Session, offer: SuccessorOffer, old: Enrollment, successor: Institution,
    amount: Decimal, now: datetime,
) -> Enrollment:  # fmt: skip
    """The enrollment continuing at the successor: the lessons left, in the next sessions of
    the offered course, awaiting the money the transfer brings. The parent signs in to it
    with the access code they have."""
    course = session.get(Course, offer.course_id)
    seqs = _sessions_left(session, offer.course_id, now)[: offer.lessons]
    if course is None or course.status != "approved" or len(seqs) < offer.lessons:
        raise DomainError("successor_no_course", "the offered course no longer takes the lessons")
    e = Enrollment(
        id=new_id("enr"), institution_id=successor.id, course_id=course.id,
        student_ref=old.student_ref, lessons=offer.lessons, first_session_seq=seqs[0],
        last_session_seq=seqs[-1], amount_due=amount,
        list_amount=course.price_per_lesson * offer.lessons, amount_paid=ZERO,
        lessons_consumed=0, amount_consumed=ZERO, lessons_refunded=0, amount_refunded=ZERO,
        payment_reference=new_payment_reference(), access_code_hash=old.access_code_hash,
        status="awaiting_payment", enrolled_at=now,
    )  # fmt: skip
    session.add(e)
    session.flush()
    chart.open_prepaid_account(session.connection(), successor.id, e.id, at=now)
    return e


# ---- settlement (service/flows/settlement.py) -----------------------------------------------


def _settled(session: Session, ins: Instruction) -> tuple[SuccessorOffer, Claim]:
    offer = session.get(SuccessorOffer, ins.subject_id, with_for_update=True,
                        populate_existing=True)  # fmt: skip
    assert offer is not None, f"instruction {ins.id} moves no successor offer"
    claim = session.get(Claim, offer.claim_id, with_for_update=True, populate_existing=True)
    assert claim is not None
    return offer, claim


def on_executed(session: Session, ins: Instruction, now: datetime) -> Callable[[], None] | None:
    """The bank moved the money: the claim is transferred, and (the successor at the same
    bank) the money is booked into the successor's escrow as the deposit paying the new
    enrollment, under the bank's transaction id. A successor at another bank reports the
    payment in itself, with the enrollment's payment reference."""
    offer, claim = _settled(session, ins)
    offer.status = "transferred"
    claim.in_flight -= ins.amount
    claim.transferred += ins.amount
    successor = session.get(Institution, offer.successor_institution_id)
    new = session.get(Enrollment, offer.successor_enrollment_id)
    assert successor is not None and new is not None and ins.result_bank_txn_id
    if successor.bank_id != ins.bank_id:
        return None
    bank = session.get(Bank, successor.bank_id)
    assert bank is not None
    data = deposits.DepositIn(
        bank_txn_id=ins.result_bank_txn_id, account_no=successor.escrow_account_no,
        payment_reference=new.payment_reference, amount=ins.amount,
        paid_at=ins.executed_at or now,
    )  # fmt: skip

    def book() -> None:
        deposits.receive(session, bank=bank, data=data, now=now)

    return book


def on_rejected(session: Session, ins: Instruction, now: datetime) -> Callable[[], None] | None:
    """The bank refused the transfer: the claim is the wind-down's again, as it was (its
    held part held, its share no longer allocated); the offer `failed`, and the successor's
    enrollment, which this transfer alone was to pay, `cancelled` (no money moves: nothing
    was ever paid into it, and its prepaid account stays at 0)."""
    offer, claim = _settled(session, ins)
    offer.status = "failed"
    made = session.get(Enrollment, offer.successor_enrollment_id, with_for_update=True)
    if made is not None and made.status == "awaiting_payment":
        made.status = "cancelled"
    share = offer.share or ZERO
    claim.in_flight -= ins.amount
    claim.allocated -= share
    claim.held += ins.amount - share
    claim.successor_institution_id = None
    claim.status = rounds.claim_status(
        {k: getattr(claim, k) for k in
         ("successor_institution_id", "paid", "amount", "held", "payee_account_no")}
    )  # fmt: skip
    return None


@dataclass(frozen=True, kw_only=True)
class ParentOffer:
    offer: SuccessorOffer
    successor: Institution
    status: str


def of_parent(session: Session, claim: Claim, now: datetime) -> ParentOffer | None:
    offer = latest_of_claim(session, claim.id)
    if offer is None:
        return None
    successor = session.get(Institution, offer.successor_institution_id)
    assert successor is not None
    return ParentOffer(offer=offer, successor=successor, status=status_of(offer, now))
