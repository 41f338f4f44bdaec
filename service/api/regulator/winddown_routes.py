"""Regulator endpoints of wind-downs (docs/winddown.md): open one, read it, its claims (a page
at a time, or every claim with every payment as CSV for a court or an administrator), and
distribute a round. Each is one use case of service/flows/winddowns.py or rounds.py."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.api.auth import RegulatorDep
from service.api.deps import DeliverLaterDep, NowDep, PageDep, SessionDep, page_of
from service.api.regulator.approvals_routes import PENDING_RESPONSE, accepted
from service.api.regulator.winddown_schemas import (
    ClaimRead,
    RoundIn,
    RoundMadeRead,
    SuccessorOfferIn,
    SuccessorOfferRead,
    SuccessorOffersRead,
    WindDownIn,
    WindDownRead,
)
from service.api.schemas import Page
from service.flows import successor_requests, successors, winddown_requests, winddowns
from service.kit.csv_out import csv_lines
from service.policy import approvals
from service.registry.institutions import audit_export

router = APIRouter(tags=["regulator"])


@router.post(
    "/institutions/{institution_id}/wind-down",
    status_code=201,
    response_model=WindDownRead,
    # Effective at an instant already past: a bound that moves with the clock.
    responses={
        **PENDING_RESPONSE,
        409: {"description": "wind_down_exists"},
        422: {"description": "validation_error, effective_in_future"},
    },
)
def open_wind_down(
    institution_id: str, body: WindDownIn, regulator: RegulatorDep, session: SessionDep,
    now: NowDep,
) -> Any:  # fmt: skip
    """Open the wind-down of an institution of the region: from `effective_at` it takes no
    fees and is released nothing; each parent's claim is fixed. Where the institution's
    region's rule pack asks for four eyes on `wind_down_open` (the default), 202 `{approval}`:
    nothing changes until a supervisor of the office or of one above, not the requester,
    approves."""
    done = winddown_requests.open_wind_down(
        session, regulator=regulator, institution_id=institution_id, reason=body.reason,
        effective_at=body.effective_at, note=body.note, now=now,
    )  # fmt: skip
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    wd = winddowns.of_regulator(session, regulator=regulator,
                                wind_down_id=done.answer["wind_down_id"])  # fmt: skip
    return WindDownRead.of(winddowns.overview(session, wd))


@router.get("/wind-downs/{wind_down_id}", response_model=WindDownRead)
def get_wind_down(wind_down_id: str, regulator: RegulatorDep, session: SessionDep) -> WindDownRead:
    """A wind-down's ledger: its claims, the money in (escrow, reserve, recoveries), paid out
    and in flight, and its rounds."""
    wd = winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    return WindDownRead.of(winddowns.overview(session, wd))


@router.get("/wind-downs/{wind_down_id}/claims", response_model=Page[ClaimRead])
def list_claims(
    wind_down_id: str, regulator: RegulatorDep, session: SessionDep, page: PageDep
) -> Page[ClaimRead]:
    """Every parent's claim: what it is, what was paid, what is outstanding, and where it
    stands (open, paid, unreachable, transferred)."""
    wd = winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    return page_of(winddowns.claims(session, wd, page), ClaimRead.of)


CSV_HEADER = [
    "enrollment_id", "student_ref", "claim", "paid", "outstanding", "status",
    "successor_institution_id", "round", "payment_id", "payment_amount", "payment_source",
    "payment_status", "instruction_id", "bank_txn_id", "payee",
]  # fmt: skip


@router.get(
    "/wind-downs/{wind_down_id}/claims.csv",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "every claim and every payment, one line a payment",
        }
    },
)
def claims_csv(
    wind_down_id: str, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> StreamingResponse:
    """Every claim with every payment made on it (one line a payment; a claim never paid has
    one line), with the instruction and the bank's transaction ids a bank can trace."""
    wd = winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    rows = list(_csv_rows(session, wd))
    audit_export(session, regulator=regulator, export="wind_down_claims",
                 filters={"wind_down_id": wd.id}, rows=len(rows), now=now)  # fmt: skip
    return StreamingResponse(
        csv_lines(CSV_HEADER, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="wind-down-{wd.id}.csv"'},
    )


def _csv_rows(session: Any, wd: Any) -> Iterator[list[Any]]:
    for line in winddowns.ledger_lines(session, wd):
        c, p, i = line.claim, line.payment, line.instruction
        head = [c.enrollment_id, line.student_ref, f"{c.amount:.2f}", f"{c.paid:.2f}",
                f"{winddowns.outstanding(c):.2f}", c.status,
                c.successor_institution_id or ""]  # fmt: skip
        if p is None:
            yield head + [""] * 8
            continue
        yield [*head, line.round_seq or "", p.id, f"{p.amount:.2f}", p.source, p.status,
               p.instruction_id or "", (i.result_bank_txn_id or "") if i else "",
               payee_text(i.payee) if i else ""]  # fmt: skip


def payee_text(payee: Any) -> str:
    """Where a payment goes, for a reader: the account named, or back by the bank's ids."""
    if isinstance(payee, dict) and payee.get("account_no"):
        return f"account {payee['account_no']}"
    if isinstance(payee, dict):
        return "back to " + " ".join(payee.get("original_bank_txn_ids", []))
    return ""


@router.post(
    "/wind-downs/{wind_down_id}/rounds",
    status_code=201,
    response_model=RoundMadeRead,
    responses={**PENDING_RESPONSE, 422: {"description": "nothing_to_distribute"}},
)
def make_round(
    wind_down_id: str, body: RoundIn, regulator: RegulatorDep, session: SessionDep,
    now: NowDep, deliver_later: DeliverLaterDep,
) -> Any:  # fmt: skip
    """Share the money available among the claims (in full where it covers them, else pro
    rata) and instruct the bank to pay each. Where the institution's region's rule pack asks
    for four eyes on `wind_down_round` (the default), 202 `{approval}`: nothing is shared
    until a supervisor approves, and the money available is judged then."""
    done = winddown_requests.make_round(
        session, regulator=regulator, wind_down_id=wind_down_id, amount=body.amount, now=now
    )
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    deliver_later()
    a = done.answer
    return RoundMadeRead(id=a["round_id"], seq=a["seq"], amount=Decimal(a["amount"]),
                         reissued=Decimal(a["reissued"]), claims_paid=a["claims_paid"],
                         instructions=a["instructions"])  # fmt: skip


@router.post(
    "/wind-downs/{wind_down_id}/successor-offers",
    status_code=201,
    response_model=SuccessorOffersRead,
    responses={
        **PENDING_RESPONSE,
        409: {"description": "successor_not_active, claim_not_offerable"},
        422: {"description": "successor_out_of_scope, successor_no_course, nothing_to_offer"},
    },
)
def offer_successor(
    wind_down_id: str, body: SuccessorOfferIn, regulator: RegulatorDep, session: SessionDep,
    now: NowDep,
) -> Any:  # fmt: skip
    """Offer the parents (those named, or every claim it can take) a successor school:
    active, of the region, with an approved course of the same category that has sessions
    for each student's lessons left. Each parent accepts or declines on their page within 14
    days (`POST /parent/wind-down/offer`). Where the institution's region's rule pack asks
    for four eyes on `successor_offer` (the default), 202 `{approval}`: nothing is offered
    until a supervisor approves."""
    done = successor_requests.offer_successor(
        session, regulator=regulator, wind_down_id=wind_down_id,
        successor_institution_id=body.successor_institution_id,
        enrollment_ids=body.enrollment_ids, now=now,
    )  # fmt: skip
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    made = successors.listed(session, wind_down_id=wind_down_id, ids=done.answer["offer_ids"])
    return SuccessorOffersRead(offers=[SuccessorOfferRead.of(o, e, now) for o, e in made])
