"""Bodies of the wind-down endpoints (docs/api.md "Wind-down")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from service.api.schemas import Read
from service.flows import rounds, successors, winddowns
from service.flows.models import Claim, SuccessorOffer
from service.kit.money import Instant, InstantOut, MoneyOut, PositiveMoney
from service.kit.wire import Strict


class WindDownIn(Strict):
    reason: Literal["closed", "absconded", "revoked"]
    effective_at: Instant = Field(description="when the institution failed; not after now")
    note: str = Field(min_length=1, max_length=2000)


class RoundIn(Strict):
    amount: PositiveMoney | None = Field(
        default=None, description="new money to share; default: all money available"
    )


class SuccessorOfferIn(Strict):
    successor_institution_id: str = Field(min_length=1, max_length=40)
    enrollment_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=20000,
        description="the claims to offer it to; default: every claim the successor can take",
    )  # fmt: skip


class SuccessorOfferRead(Read):
    id: str
    enrollment_id: str
    successor_institution_id: str
    course_id: str = Field(description="the successor's course that takes the lessons")
    lessons: int
    status: Literal["offered", "expired", "accepted", "transferred", "failed", "declined"]
    expires_at: InstantOut
    amount: MoneyOut | None = Field(description="the money the transfer moves, once accepted")
    successor_enrollment_id: str | None

    @classmethod
    def of(cls, o: SuccessorOffer, enrollment_id: str, now: datetime) -> SuccessorOfferRead:
        return cls(
            id=o.id, enrollment_id=enrollment_id,
            successor_institution_id=o.successor_institution_id, course_id=o.course_id,
            lessons=o.lessons, status=successors.status_of(o, now),  # type: ignore[arg-type]
            expires_at=o.expires_at, amount=o.amount,
            successor_enrollment_id=o.successor_enrollment_id,
        )  # fmt: skip


class SuccessorOffersRead(Read):
    offers: list[SuccessorOfferRead]


class ClaimsSummaryRead(Read):
    count: int
    total: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut
    unreachable: int


class FundsRead(Read):
    escrow: MoneyOut = Field(
        description="the escrow account's cash (the ledger's, equal to the bank's)"
    )
    reserve: MoneyOut
    recovered: MoneyOut
    paid_out: MoneyOut
    in_flight: MoneyOut
    held: MoneyOut = Field(description="allocated to parents the bank could not pay")
    available: MoneyOut = Field(description="what the next round may share")


class RoundRead(Read):
    id: str
    seq: int
    amount: MoneyOut
    reissued: MoneyOut
    created_at: InstantOut
    status: Literal["instructed", "settled"]


class WindDownRead(Read):
    id: str
    institution_id: str
    status: Literal["open", "closed"]
    reason: str
    effective_at: InstantOut
    note: str
    payment_reference: str = Field(description="what a recovery paid into escrow must carry")
    shortfall: MoneyOut = Field(description="booked as a receivable from the institution")
    claims: ClaimsSummaryRead
    money: FundsRead
    rounds: list[RoundRead]

    @classmethod
    def of(cls, o: winddowns.Overview) -> WindDownRead:
        wd, c, m = o.wind_down, o.claims, o.money
        return cls(
            id=wd.id, institution_id=wd.institution_id, status=wd.status,  # type: ignore[arg-type]
            reason=wd.reason, effective_at=wd.effective_at, note=wd.note,
            payment_reference=wd.payment_reference, shortfall=wd.shortfall,
            claims=ClaimsSummaryRead(count=c.count, total=c.total, paid=c.paid,
                                     outstanding=c.outstanding, unreachable=c.unreachable),
            money=FundsRead(escrow=m.escrow, reserve=m.reserve, recovered=m.recovered,
                            paid_out=m.paid_out, in_flight=m.in_flight, held=m.held,
                            available=m.available),
            rounds=[RoundRead(id=r.round.id, seq=r.round.seq, amount=r.round.amount,
                              reissued=r.round.reissued, created_at=r.round.created_at,
                              status=r.status)  # type: ignore[arg-type]
                    for r in o.rounds],
        )  # fmt: skip


class ClaimRead(Read):
    enrollment_id: str
    claim: MoneyOut
    paid: MoneyOut
    outstanding: MoneyOut = Field(
        description="what the wind-down still owes the parent (0 once transferred: the "
        "successor teaches the lessons left)"
    )
    in_flight: MoneyOut
    held: MoneyOut
    transferred: MoneyOut = Field(description="moved to the successor's escrow by the bank")
    status: Literal["open", "paid", "unreachable", "transferred"]
    successor_institution_id: str | None = None

    @classmethod
    def of(cls, c: Claim) -> ClaimRead:
        return cls(
            enrollment_id=c.enrollment_id, claim=c.amount, paid=c.paid,
            outstanding=winddowns.outstanding(c), in_flight=c.in_flight, held=c.held,
            transferred=c.transferred,
            status=c.status,  # type: ignore[arg-type]
            successor_institution_id=c.successor_institution_id,
        )  # fmt: skip


class RoundMadeRead(Read):
    id: str
    seq: int
    amount: MoneyOut = Field(description="new money shared among the claims")
    reissued: MoneyOut = Field(description="held allocations paid now to accounts parents named")
    claims_paid: int
    instructions: int = Field(description="bank instructions made (GET /bank/instructions)")

    @classmethod
    def of(cls, m: rounds.Made) -> RoundMadeRead:
        r = m.round
        return cls(id=r.id, seq=r.seq, amount=r.amount, reissued=r.reissued,
                   claims_paid=m.claims_paid, instructions=m.instructions)  # fmt: skip
