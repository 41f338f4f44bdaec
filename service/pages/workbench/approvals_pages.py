"""The approvals queue (four eyes): every request of the office and of the offices below it
that waits for a second person, with what it will do in full; a supervisor approves or rejects
each with a note. The same use case as the API's (service.policy.approvals.decide)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.deps import DeliverLaterDep, NowDep, SessionDep
from service.errors import DomainError
from service.flows import instructions
from service.kit.paging import Paging
from service.pages import labels
from service.pages.labels import N_
from service.pages.signin import SignedIn
from service.pages.web import LangDep, PostDep, SignedDep, back, render
from service.pages.workbench.common import Text, refusal
from service.policy import approvals
from service.registry import officers
from service.registry.models import Approval, Institution, Officer, Regulator

router = APIRouter(prefix="/workbench", include_in_schema=False)
SHOWN = 100  # the queue is short: a request waits three days at most


@dataclass(frozen=True)
class Shown:
    """An approval as the page shows it."""

    row: Approval
    status: str
    facts: list[approvals.Fact]
    requester: str
    decider: str | None
    # Why the signed-in person may not decide it (None: they may).
    cannot: str | None


def _names(session: Session, rows: list[Approval]) -> dict[str, str]:
    ids = {i for a in rows for i in (a.requested_by, a.decided_by) if i}
    offices = {a.office_id for a in rows}
    found = session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(ids)))
    names = {officer_id: name for officer_id, name in found}
    for reg_id, name in session.execute(
        select(Regulator.id, Regulator.name).where(Regulator.id.in_(offices))
    ).tuples():
        names[f"regulator:{reg_id}"] = name
    return names


def _cannot(signed: SignedIn, a: Approval) -> str | None:
    if signed.officer is None or not officers.may(signed.officer.role, officers.Permission.APPROVE):
        return N_("Only a supervisor signed in as a person may approve or reject a request.")
    if a.requested_by == signed.officer.id:
        return N_("You asked for this yourself: another supervisor must approve or reject it.")
    return None


@router.get("/approvals", response_class=HTMLResponse)
def queue(
    request: Request,
    signed: SignedDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    status: Annotated[Literal["pending", "approved", "rejected", "expired"], Query()] = "pending",
) -> HTMLResponse:
    paged = approvals.listed(session, office=signed.regulator, status=status, now=now,
                             paging=Paging(limit=SHOWN, after=None))  # fmt: skip
    rows = paged.rows if status == "pending" else list(reversed(paged.rows))
    names = _names(session, rows)
    shown = [
        Shown(
            row=a,
            status=approvals.status_of(a, now),
            facts=approvals.describe(session, a),
            requester=names.get(approvals.requester_label(a), approvals.requester_label(a)),
            decider=names.get(a.decided_by or "", a.decided_by),
            cannot=_cannot(signed, a),
        )
        for a in rows
    ]
    return render(request, "approvals.html", lang, signed=signed, shown=shown, status=status,
                  more=paged.next_after is not None, statuses=approvals.STATUSES,
                  refusals=labels.REFUSALS, institutions=_institutions(session, shown))  # fmt: skip


def _institutions(session: Session, shown: list[Shown]) -> dict[str, str]:
    """The names of the institutions the requests are about: a person reads a name, not an id."""
    ids = {
        str(f.value)
        for s in shown
        for f in s.facts
        if f.label in ("institution_id", "successor_institution_id")
    }
    rows = session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return dict(rows.tuples().all())


@router.post("/approvals/{approval_id}/approve")
@router.post("/approvals/{approval_id}/reject")
def decide(
    approval_id: str,
    request: Request,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    note: Text,
    deliver_later: DeliverLaterDep,
) -> RedirectResponse:
    """Approve (the action runs now, once, as your act on their request) or reject, with a
    note. What the role may not do, or another office's request, is the error page, as the
    API answers it; a decided or expired request is said on the queue."""
    approve = request.url.path.endswith("/approve")
    try:
        with session.begin_nested():
            done = approvals.decide(
                session,
                office=signed.regulator,
                officer=signed.officer,
                approval_id=approval_id,
                approve=approve,
                note=note,
                now=now,
            )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return back("/workbench/approvals", problem=refusal(exc))
    if instructions.made_any(session):
        deliver_later()  # an approved round's payments go to the bank as an unapproved one's
    return back("/workbench/approvals", **_told(done.result))


def _told(result: dict[str, Any] | None) -> dict[str, str]:
    if result is None:
        return {"done": N_("Rejected: nothing of it was done.")}
    if result["ok"]:
        return {"done": N_("Approved: it is done.")}
    return {"problem": N_("Approved, but it could not be done now: the approved requests say why.")}
