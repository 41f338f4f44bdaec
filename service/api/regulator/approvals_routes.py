"""Four-eyes approvals (docs/api.md "Officers and approvals"): the office's queue, and a
supervisor approving or rejecting one. One domain call each (service.policy.approvals); an
action that waits for approval answers 202 `{approval}` through `accepted`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.auth import RegulatorDep
from service.api.deps import DeliverLaterDep, NowDep, PageDep, SessionDep, page_of
from service.api.schemas import Page, Read
from service.flows import instructions
from service.kit.money import InstantOut
from service.kit.wire import Strict
from service.policy import approvals
from service.registry.models import Approval, Officer

router = APIRouter(tags=["approvals"])


class FactRead(Read):
    label: str = Field(description="what this line says (a stable key)")
    value: Any


class ApprovalRead(Read):
    id: str
    action: str
    target: str
    requested_by: str = Field(description="the officer who asked, or `regulator:<id>` for "
                              "the office's own token")  # fmt: skip
    requested_by_name: str | None
    requested_at: InstantOut
    expires_at: InstantOut
    status: Literal["pending", "approved", "rejected", "expired"]
    payload: dict[str, Any]
    region_code: str
    office_id: str
    decided_by: str | None
    decided_at: InstantOut | None
    note: str | None
    result: dict[str, Any] | None
    description: list[FactRead] = Field(description="what it will do (or did), in full")

    @classmethod
    def of(cls, session: Session, a: Approval, now: Any) -> ApprovalRead:
        names = _names(session, [a])
        return cls(
            id=a.id, action=a.action, target=a.target,
            requested_by=approvals.requester_label(a),
            requested_by_name=names.get(a.requested_by or ""),
            requested_at=a.requested_at, expires_at=a.expires_at,
            status=approvals.status_of(a, now),  # type: ignore[arg-type]
            payload=a.payload, region_code=a.region_code, office_id=a.office_id,
            decided_by=a.decided_by, decided_at=a.decided_at, note=a.note, result=a.result,
            description=[FactRead(**f.as_dict()) for f in approvals.describe(session, a)],
        )  # fmt: skip


def _names(session: Session, found: list[Approval]) -> dict[str, str]:
    ids = {a.requested_by for a in found if a.requested_by}
    if not ids:
        return {}
    rows = session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(ids)))
    return {officer_id: name for officer_id, name in rows}


class ApprovalAccepted(Read):
    """An action that waits for a second person: nothing has changed yet."""

    approval: ApprovalRead


class DecidedRead(Read):
    approval: ApprovalRead
    result: dict[str, Any] | None = Field(
        description="on approval, what running the action gave: `{ok: true, answer}` or, "
        "where it was refused at that moment, `{ok: false, code, detail}`; null on rejection"
    )


class DecisionIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


# For the routes of an action four eyes may hold: its 202 in the document.
PENDING_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {"model": ApprovalAccepted,
          "description": "four eyes: the request waits for a supervisor's approval"},
}  # fmt: skip


def accepted(session: Session, approval: Approval, now: Any) -> JSONResponse:
    """202 `{approval: {..., status: "pending"}}`."""
    body = ApprovalAccepted(approval=ApprovalRead.of(session, approval, now))
    return JSONResponse(body.model_dump(mode="json"), status_code=202)


@router.get("/approvals", response_model=Page[ApprovalRead])
def list_approvals(
    regulator: RegulatorDep,
    session: SessionDep,
    page: PageDep,
    now: NowDep,
    status: Annotated[Literal["pending", "approved", "rejected", "expired"] | None, Query()] = None,
) -> Page[ApprovalRead]:
    """The approvals of the office and of the offices below it, oldest first, with what each
    will do in full. `status=pending`: those still to decide."""
    paged = approvals.listed(session, office=regulator, status=status, now=now, paging=page)
    return page_of(paged, lambda a: ApprovalRead.of(session, a, now))


def _decide(
    approval_id: str, approve: bool, body: DecisionIn, regulator: RegulatorDep, request: Request,
    session: Session, now: Any, deliver_later: Callable[[], None],
) -> DecidedRead:  # fmt: skip
    officer: Officer | None = getattr(request.state, "officer", None)
    done = approvals.decide(session, office=regulator, officer=officer, approval_id=approval_id,
                            approve=approve, note=body.note, now=now)  # fmt: skip
    if instructions.made_any(session):
        deliver_later()  # an approved round's payments go to the bank as an unapproved one's
    return DecidedRead(approval=ApprovalRead.of(session, done.approval, now), result=done.result)


def _approver(request: Request) -> None:
    """Whoever may not decide a request is told so before anything else (their body, the
    id): the office's own token and every role without `approve`."""
    officer: Officer | None = getattr(request.state, "officer", None)
    approvals.may_decide(officer)


DECISION_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "approval_by_requester, role_cannot_approve, role_forbidden"},
    404: {"description": "not_found"},
    409: {"description": "approval_decided, approval_expired"},
}


@router.post("/approvals/{approval_id}/approve", response_model=DecidedRead,
             responses=DECISION_ERRORS, dependencies=[Depends(_approver)])  # fmt: skip
def approve(
    approval_id: str,
    body: DecisionIn,
    regulator: RegulatorDep,
    request: Request,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
) -> DecidedRead:
    """Approve another person's request (a supervisor or admin of the office or of one above):
    the action runs now, once, as your act on their request. A refusal of the action at this
    moment is `result`, and the approval is decided all the same."""
    return _decide(approval_id, True, body, regulator, request, session, now, deliver_later)


@router.post("/approvals/{approval_id}/reject", response_model=DecidedRead,
             responses=DECISION_ERRORS, dependencies=[Depends(_approver)])  # fmt: skip
def reject(
    approval_id: str,
    body: DecisionIn,
    regulator: RegulatorDep,
    request: Request,
    session: SessionDep,
    now: NowDep,
) -> DecidedRead:
    """Reject another person's request, with a note: nothing of it is done."""
    return _decide(approval_id, False, body, regulator, request, session, now, lambda: None)
