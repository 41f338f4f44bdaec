"""The parent's pages. Every change goes through the same use case as the parent API, in a
savepoint: a refusal leaves nothing and comes back to the page in the parent's words."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from service.api.auth import over_address_budget, vouch_session
from service.api.deps import DeliverLaterDep, NowDep, SessionDep, SettingsDep
from service.errors import DomainError
from service.flows import (
    consumptions,
    enrollments,
    instructions,
    parents,
    refunds,
    rounds,
    successors,
)
from service.kit.qr import qr_svg
from service.pages import i18n
from service.pages.labels import N_
from service.pages.parent import view
from service.pages.parent.signin import (
    COOKIE,
    PATH,
    ParentPageDep,
    ParentPostDep,
    current,
    sign_out,
)
from service.pages.web import LangDep, back, render
from service.proofs import serving as proofs

router = APIRouter(prefix=PATH, include_in_schema=False)
ENROLLMENT_ID = re.compile(r"^enr_[0-9a-f]{32}$")
CSRF_COOKIE = "tg_pcsrf"
Reason = Annotated[str, Form(min_length=1, max_length=2000)]
Category = Literal["refund", "teaching_stopped", "asked_to_pay_off_platform", "quality", "other"]

# What a refusal means to a parent (the API's codes, docs/domain.md's rules).
REFUSALS = {
    "nothing_to_refund": N_("There are no paid, unused lessons left to refund."),
    "refund_in_progress": N_("A refund is already in progress: follow it below."),
    "invalid_state": N_("This lesson can no longer be disputed: its confirmation window is over."),
    # A refusal told apart by its state (`_act`): the claim moved with the student.
    "invalid_state:transferred": N_(
        "This lesson can no longer be disputed: your claim has moved to the successor school, "
        "which teaches the lessons left."
    ),
    "not_found": N_("Not found."),
    "institution_winding_down": N_(
        "The institution is being wound up: your balance is your claim, paid in the "
        "wind-down's rounds (below)."
    ),
    "offer_expired": N_("The offer has expired: your claim stays, paid in the rounds."),
    "offer_decided": N_("You have already answered this offer."),
    "claim_payment_in_flight": N_(
        "A payment on your claim is with the bank: answer once it has arrived or come back."
    ),
    "transfer_not_covered": N_(
        "The money for your claim cannot be moved in one payment just now: try again after "
        "the next recovery."
    ),
    "successor_not_active": N_("The successor school can no longer take you: your claim stays."),
    "successor_no_course": N_("The successor school can no longer take you: your claim stays."),
    "claim_not_offerable": N_("Your claim can no longer move: it is paid or moved already."),
    "complaint_limit": N_("You have filed three complaints today; you may file again tomorrow."),
    "complaint_already_filed": N_(
        "You already have an open complaint of this kind; the regulator has it. "
        "You may file another once it is handled."
    ),
}


@router.get("", response_class=HTMLResponse)
def home(
    request: Request, session: SessionDep, now: NowDep, settings: SettingsDep, lang: LangDep
) -> Response:
    signed = current(request, session, now, settings.secret_key)
    if signed is None:
        return _sign_in_page(request, lang, enrollment_id=None)
    shown = view.read(session, signed.enrollment, now)
    return render(request, "parent.html", lang, v=shown, csrf=signed.csrf, now=now,
                  categories=list(get_args(Category)))  # fmt: skip


@router.get("/e/{enrollment_id}", response_class=HTMLResponse)
def by_link(request: Request, enrollment_id: str, lang: LangDep) -> Response:
    """The link (or QR code) an institution hands out: the id is in it, the code is typed."""
    known = enrollment_id if ENROLLMENT_ID.match(enrollment_id) else None
    return _sign_in_page(request, lang, enrollment_id=known)


@router.get("/e/{enrollment_id}/qr.svg")
def qr(enrollment_id: str, settings: SettingsDep) -> Response:
    """The link is the configured public address's, whatever Host the request named; and a
    family's code is kept by no cache but the browser's own (private)."""
    if not ENROLLMENT_ID.match(enrollment_id):
        return Response(status_code=404)
    code = qr_svg(parents.sign_in_link(settings, enrollment_id))
    return Response(code, media_type="image/svg+xml",
                    headers={"Cache-Control": "private, no-store"})  # fmt: skip


def _sign_in_page(request: Request, lang: str, *, enrollment_id: str | None) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    page = render(request, "parent_sign_in.html", lang, csrf=csrf, enrollment_id=enrollment_id)
    page.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=PATH,
                    secure=request.url.scheme == "https")  # fmt: skip
    return page


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    lang: LangDep,
    enrollment_id: Annotated[str, Form(max_length=40)],
    access_code: Annotated[str, Form(max_length=40)],
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """The double-submitted CSRF cookie guards this one form (there is no session yet)."""
    again = f"{PATH}/e/{enrollment_id}" if ENROLLMENT_ID.match(enrollment_id) else PATH
    if not csrf or request.cookies.get(CSRF_COOKIE) != csrf:
        return back(again, problem=N_("The form is stale: try again."))
    client = request.client.host if request.client else "unknown"
    try:
        made = parents.open_session(
            session, enrollment_id=enrollment_id.strip(), access_code=access_code.strip(),
            client=client, now=now, settings=settings,
        )  # fmt: skip
    except DomainError as exc:  # too many attempts: the wait is in the words
        return back(again, problem=_wait(exc, lang))
    if made is None:  # answered, not raised, so that the failure count is committed
        wait = over_address_budget(request)
        if wait is not None:  # the address's budget is spent: only the right code goes past
            return back(
                again, problem=_wait(DomainError("rate_limited", "", retry_after=wait), lang)
            )
        return back(again, problem=N_("The enrollment number or the access code is wrong."))
    token, _expires = made
    vouch_session(request, token, "parent", enrollment_id.strip())
    response = RedirectResponse(PATH, status_code=303)
    # A lifetime, not an instant: the browser's clock need not agree with ours.
    response.set_cookie(COOKIE, token, max_age=settings.parent_session_hours * 3600,
                        httponly=True, samesite="strict", path=PATH,
                        secure=request.url.scheme == "https")  # fmt: skip
    return response


def _wait(exc: DomainError, lang: str) -> str:
    """Too many wrong codes, in the parent's language, with the wait in minutes."""
    _ = i18n.gettext(lang)
    minutes = max(1, -(-(exc.retry_after or 60) // 60))
    return _("Too many wrong codes from this device: try again in %(n)s minutes.") % {"n": minutes}


@router.post("/sign-out")
def sign_out_post(request: Request, session: SessionDep, signed: ParentPostDep) -> Response:
    sign_out(session, request.cookies.get(COOKIE))
    response = back(PATH, done=N_("You are signed out."))
    response.delete_cookie(COOKIE, path=PATH)
    return response


@router.post("/lessons/{consumption_id}/dispute")
def dispute(
    consumption_id: str, session: SessionDep, now: NowDep, signed: ParentPostDep, reason: Reason
) -> Response:
    def run() -> None:
        e = signed.enrollment
        consumptions.dispute(
            session, consumption_id=consumption_id, enrollment_id=e.id, reason=reason, now=now
        )

    return _act(
        session,
        "#lessons",
        run,
        N_(
            "The lesson is disputed: it is not paid to the institution until the regulator decides."
        ),
    )


@router.get("/refund", response_class=HTMLResponse)
def refund_confirm(
    request: Request, signed: ParentPageDep, lang: LangDep, lessons: int | None = None
) -> Response:
    """The exact amount, before anything is asked of the bank."""
    e = signed.enrollment
    left = enrollments.remaining_lessons(e) if e.status not in enrollments.UNPAID else 0
    if left == 0:
        return back(PATH, problem=REFUSALS["nothing_to_refund"])
    count = left if lessons is None else lessons
    if not 1 <= count <= left:
        return back(PATH + "#refund", problem=N_("Choose between 1 and the lessons left."))
    return render(request, "parent_refund.html", lang, e=e, lessons=count, left=left,
                  amount=view.quote(e, count), csrf=signed.csrf)  # fmt: skip


@router.post("/refunds")
def refund(
    session: SessionDep,
    now: NowDep,
    signed: ParentPostDep,
    lessons: Annotated[int, Form(ge=1, le=1000)],
    reason: Reason,
) -> Response:
    def run() -> None:
        refunds.request(session, enrollment_id=signed.enrollment.id, lessons=lessons,
                        reason=reason, now=now)  # fmt: skip

    return _act(
        session,
        "#refunds",
        run,
        N_("Your refund is requested. The institution must answer by the date shown."),
    )


@router.get("/proof.json")
def proof_json(signed: ParentPageDep, session: SessionDep, settings: SettingsDep) -> Response:
    """The parent's proof (docs/proofs.md §3), for the page's own check in the browser: the
    API's answer, through the page's session."""
    e = signed.enrollment
    try:
        found = proofs.parent_proof(
            session, settings, institution_id=e.institution_id, enrollment_id=e.id, day=None
        )
    except DomainError as exc:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
    return JSONResponse(found, headers={"Cache-Control": "private, no-store"})


@router.post("/proof-failed")
def proof_failed(
    session: SessionDep,
    now: NowDep,
    signed: ParentPostDep,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
    proof: Annotated[str, Form(max_length=65536)] = "",
) -> Response:
    """One click from a failed check: a complaint to the regulator with what failed and the
    proof as the browser received it."""
    e = signed.enrollment
    text = f"{reason}\n\n{proof}" if proof else reason

    def run() -> None:
        parents.complain(session, institution_id=e.institution_id, enrollment_id=e.id,
                         category="proof_failed", text=text, now=now)  # fmt: skip

    done = N_("Your complaint, with the failed proof attached, is filed with the regulator.")
    return _act(session, "#complaints", run, done)


@router.post("/complaints")
def complain(
    session: SessionDep,
    now: NowDep,
    signed: ParentPostDep,
    category: Annotated[Category, Form()],
    text: Annotated[str, Form(min_length=1, max_length=5000)],
) -> Response:
    e = signed.enrollment

    def run() -> None:
        parents.complain(session, institution_id=e.institution_id, enrollment_id=e.id,
                         category=category, text=text, now=now)  # fmt: skip

    return _act(session, "#complaint", run, N_("Your complaint is filed with the regulator."))


@router.post("/wind-down/payee")
def name_payee(
    session: SessionDep,
    now: NowDep,
    signed: ParentPostDep,
    account_no: Annotated[str, Form(min_length=4, max_length=64, pattern=r"^[0-9A-Za-z-]{4,64}$")],
) -> Response:
    """The account the wind-down pays when the bank could not pay back by the original route
    (the API's use case: `POST /api/v1/parent/wind-down/payee`)."""

    def run() -> None:
        rounds.name_payee(session, enrollment_id=signed.enrollment.id, account_no=account_no,
                          now=now)  # fmt: skip

    return _act(session, "#wind-down", run, N_("Thank you: the next round pays that account."))


@router.post("/wind-down/offer")
def decide_offer(
    session: SessionDep,
    now: NowDep,
    signed: ParentPostDep,
    decision: Annotated[Literal["accept", "decline"], Form()],
    deliver_later: DeliverLaterDep,
) -> Response:
    """Accept or decline the successor school offered (the API's use case:
    `POST /api/v1/parent/wind-down/offer`)."""

    def run() -> None:
        successors.decide(session, enrollment_id=signed.enrollment.id, decision=decision,
                          now=now)  # fmt: skip

    done = (
        N_("Accepted: the bank moves your claim's money to the new school, where your lessons "
           "continue.")
        if decision == "accept"
        else N_("Declined: your claim stays and is paid in the rounds.")
    )  # fmt: skip
    answer = _act(session, "#wind-down", run, done)
    if instructions.made_any(session):
        deliver_later()  # the transfer goes to the bank after the commit, as a round does
    return answer


def _act(session: Session, anchor: str, action: Callable[[], None], done: str) -> Response:
    try:
        with session.begin_nested():
            action()
    except DomainError as exc:
        told = REFUSALS.get(f"{exc.code}:{exc.extra.get('state')}")
        return back(PATH + anchor, problem=told or REFUSALS.get(exc.code, exc.detail))
    return back(PATH + anchor, done=done)
