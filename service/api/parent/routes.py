"""Parent endpoints. A parent session sees exactly one enrollment."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request

from service.api.auth import ParentDep, over_address_budget, vouch_token
from service.api.deps import DeliverLaterDep, NowDep, SessionDep, SettingsDep
from service.api.parent.schemas import (
    ComplaintIn,
    ComplaintRead,
    DisputeIn,
    OfferDecisionIn,
    ParentEnrollmentRead,
    ParentWindDownRead,
    PayeeIn,
    ProofRead,
    RefundIn,
    RefundRequestedRead,
    SessionIn,
    SessionRead,
)
from service.api.problems import problem_response, refusals
from service.api.ratelimit import refusal
from service.api.schemas import ConsumptionRead, Page, RefundTimelineRead
from service.flows import (
    consumptions,
    instructions,
    parents,
    refunds,
    rounds,
    successors,
    winddowns,
)
from service.proofs import serving as proofs

router = APIRouter(prefix="/parent", tags=["parent"])


# Signing in is the one parent route without a session.
sessions_router = APIRouter(prefix="/parent", tags=["parent"])


@sessions_router.post(
    "/sessions",
    status_code=201,
    response_model=SessionRead,
    responses={
        401: {"description": "invalid_access_code"},
        429: {"description": "too_many_attempts, rate_limited"},
    },
)
def open_session(
    body: SessionIn, request: Request, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Any:
    client = request.client.host if request.client else "unknown"
    out = parents.open_session(
        session,
        enrollment_id=body.enrollment_id,
        access_code=body.access_code,
        client=client,
        now=now,
        settings=settings,
    )
    if out is None:  # answered, not raised, so that the failure count is committed
        wait = over_address_budget(request)
        if wait is not None:  # the address's budget is spent: only the right code goes past
            return refusal(wait)
        return problem_response("invalid_access_code", "the enrollment id or access code is wrong")
    token, expires = out
    vouch_token(request, token, "parent", body.enrollment_id)
    return SessionRead(token=token, expires_at=expires)


@router.get("/enrollment", response_model=ParentEnrollmentRead)
def enrollment(e: ParentDep, session: SessionDep) -> ParentEnrollmentRead:
    return ParentEnrollmentRead.of(parents.overview(session, e))


@router.post(
    "/refunds",
    status_code=201,
    response_model=RefundRequestedRead,
    # What is left to refund is the enrollment's state, not the request's.
    responses=refusals("nothing_to_refund", "refund_in_progress"),
)
def request_refund(
    body: RefundIn, e: ParentDep, session: SessionDep, now: NowDep
) -> RefundRequestedRead:
    r = refunds.request(
        session, enrollment_id=e.id, lessons=body.lessons, reason=body.reason, now=now
    )
    return RefundRequestedRead.of(r)


@router.get("/refunds", response_model=Page[RefundTimelineRead])
def list_refunds(e: ParentDep, session: SessionDep, now: NowDep) -> Page[RefundTimelineRead]:
    """The enrollment's refunds, newest first, each with its timeline."""
    return Page(
        items=[
            RefundTimelineRead.with_events(r, refunds.timeline(session, r), now)
            for r in refunds.of_enrollment(session, e.id)
        ]
    )


@router.get("/refunds/{refund_id}", response_model=RefundTimelineRead)
def get_refund(
    refund_id: str, e: ParentDep, session: SessionDep, now: NowDep
) -> RefundTimelineRead:
    r = refunds.of_parent(session, enrollment_id=e.id, refund_id=refund_id)
    return RefundTimelineRead.with_events(r, refunds.timeline(session, r), now)


@router.get("/consumptions", response_model=Page[ConsumptionRead])
def list_consumptions(e: ParentDep, session: SessionDep, now: NowDep) -> Page[ConsumptionRead]:
    found = consumptions.of_enrollment(session, e.id)
    return Page(items=[ConsumptionRead.of(c, now) for c in found])


@router.post("/consumptions/{consumption_id}/dispute", response_model=ConsumptionRead)
def dispute(
    consumption_id: str, body: DisputeIn, e: ParentDep, session: SessionDep, now: NowDep
) -> ConsumptionRead:
    c = consumptions.dispute(
        session, consumption_id=consumption_id, enrollment_id=e.id, reason=body.reason, now=now
    )
    return ConsumptionRead.of(c, now)


@router.post("/complaints", status_code=201, response_model=ComplaintRead)
def complain(body: ComplaintIn, e: ParentDep, session: SessionDep, now: NowDep) -> ComplaintRead:
    c = parents.complain(
        session,
        institution_id=e.institution_id,
        enrollment_id=e.id,
        category=body.category,
        text=body.text,
        now=now,
    )
    return ComplaintRead(id=c.id)


@router.get("/proof", response_model=ProofRead)
def proof(
    e: ParentDep, session: SessionDep, settings: SettingsDep, date: date | None = None
) -> dict[str, Any]:
    """The parent's inclusion proof of the day (the latest snapshot counting this enrollment
    when no date is given): docs/proofs.md §3, checked by the parent's own browser."""
    return proofs.parent_proof(
        session, settings, institution_id=e.institution_id, enrollment_id=e.id, day=date
    )


@router.get("/wind-down", response_model=ParentWindDownRead)
def wind_down(e: ParentDep, session: SessionDep, now: NowDep) -> ParentWindDownRead:
    """The parent's claim in the institution's wind-down, every round's part of it, and the
    successor school offered, if any; 404 where the institution is not being wound up."""
    return _wind_down(session, e.id, now)


def _wind_down(session: Any, enrollment_id: str, now: Any) -> ParentWindDownRead:
    v = winddowns.of_parent(session, enrollment_id)
    return ParentWindDownRead.of(v, successors.of_parent(session, v.claim, now))


@router.post(
    "/wind-down/offer",
    response_model=ParentWindDownRead,
    responses={
        404: {"description": "not_found: no offer"},
        409: {"description": "offer_expired, offer_decided, claim_payment_in_flight, "
                             "transfer_not_covered, successor_not_active"},
    },
)  # fmt: skip
def decide_offer(
    body: OfferDecisionIn, e: ParentDep, session: SessionDep, now: NowDep,
    deliver_later: DeliverLaterDep,
) -> ParentWindDownRead:  # fmt: skip
    """Accept or decline the successor school offered. Accepting moves the claim's money to
    the successor's escrow by one bank instruction (`kind: transfer`), and the enrollment
    continues there with its lessons left (`offer.successor_enrollment_id`); declining keeps
    the claim in the wind-down's rounds. The same decision again answers the same."""
    successors.decide(session, enrollment_id=e.id, decision=body.decision, now=now)
    if instructions.made_any(session):
        deliver_later()  # the transfer goes to the bank after the commit, as a round does
    return _wind_down(session, e.id, now)


@router.post("/wind-down/payee", response_model=ParentWindDownRead)
def name_payee(body: PayeeIn, e: ParentDep, session: SessionDep, now: NowDep) -> ParentWindDownRead:
    """The account to pay when the bank could not pay back by the route the money came in:
    the part held for the parent is paid there in the next round."""
    rounds.name_payee(session, enrollment_id=e.id, account_no=body.account_no, now=now)
    return _wind_down(session, e.id, now)
