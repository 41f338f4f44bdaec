"""Bodies of the wind-down endpoints (docs/api.md "Wind-down")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.api.schemas import Read
from service.flows import rounds, winddowns
from service.flows.models import Claim
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
    outstanding: MoneyOut
    in_flight: MoneyOut
    held: MoneyOut
    status: Literal["open", "paid", "unreachable", "transferred"]
    successor_institution_id: str | None = None

    @classmethod
    def of(cls, c: Claim) -> ClaimRead:
        return cls(
            enrollment_id=c.enrollment_id, claim=c.amount, paid=c.paid,
            outstanding=c.amount - c.paid, in_flight=c.in_flight, held=c.held,
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
