"""The officer's own account in the workbench: sign out everywhere, a new password, a new
authenticator (its QR code drawn on the server) with recovery codes, and API tokens. Any role
may use it: these are the person's own credentials. A secret shown once (a token, recovery
codes) is answered on the page itself, never carried in a redirect, and not cached."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from service.api.deps import NowDep, SessionDep, SettingsDep
from service.errors import DomainError
from service.kit.wire import Clean
from service.pages.labels import N_
from service.pages.signin import COOKIE, SignedIn
from service.pages.web import AnyRolePostDep, LangDep, SignedDep, back, render
from service.pages.workbench.common import act, refusal
from service.registry import officer_account, officer_tokens, recovery_codes
from service.registry.models import Officer

router = APIRouter(prefix="/workbench", include_in_schema=False)
PAGE = "/workbench/account"
Secret = Annotated[str, Form(min_length=1, max_length=200)]


def _me(signed: SignedIn) -> Officer:
    if signed.officer is None:
        raise DomainError("person_required", "the office's token is no person: sign in as one")
    return signed.officer


def _page(
    request: Request, signed: SignedIn, session: Session, lang: str, secret_key: str,
    now: datetime, **shown: Any,
) -> HTMLResponse:  # fmt: skip
    officer = signed.officer
    context: dict[str, Any] = {}
    if officer is not None:
        context = {
            "tokens": officer_tokens.of_officer(session, officer),
            "enrolment": officer_account.pending(officer, secret_key=secret_key),
            "codes_left": recovery_codes.left(session, officer.id),
            "max_days": officer_tokens.MAX_DAYS,
            "default_days": officer_tokens.DEFAULT_DAYS,
        }
    page = render(request, "account.html", lang, signed=signed, now=now, **context, **shown)
    if shown:  # a secret shown once: not kept by the browser's cache
        page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/account", response_class=HTMLResponse)
def account(
    request: Request,
    signed: SignedDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    settings: SettingsDep,
) -> HTMLResponse:
    return _page(request, signed, session, lang, settings.secret_key, now)


def _signed_out(to: str, note: str) -> RedirectResponse:
    response = back(to, done=note)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/account/sign-out-everywhere")
def sign_out_everywhere(
    signed: AnyRolePostDep, session: SessionDep, now: NowDep
) -> RedirectResponse:
    officer_account.end_sessions(session, officer=_me(signed), now=now)
    return _signed_out("/workbench/sign-in", N_("You are signed out everywhere."))


@router.post("/account/password")
def change_password(
    signed: AnyRolePostDep,
    session: SessionDep,
    now: NowDep,
    current_password: Annotated[Secret, Clean],
    new_password: Annotated[Secret, Clean],
) -> RedirectResponse:
    officer = _me(signed)
    try:
        with session.begin_nested():
            changed = officer_account.change_password(
                session, officer=officer, current=current_password, new=new_password, now=now
            )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return back(f"{PAGE}#password-h", problem=refusal(exc))
    if not changed:  # counted: the request's transaction keeps the count
        return back(f"{PAGE}#password-h", problem=refusal(DomainError("wrong_password", "")))
    return _signed_out(
        "/workbench/sign-in", N_("Your password is changed: sign in with the new one.")
    )


@router.post("/account/totp")
def start_enrolment(
    signed: AnyRolePostDep, session: SessionDep, settings: SettingsDep
) -> RedirectResponse:
    officer_account.start_totp(session, officer=_me(signed), secret_key=settings.secret_key)
    return back(f"{PAGE}#totp-h", done=N_("Scan the new QR code, then type the code it shows."))


@router.post("/account/totp/confirm", response_model=None)
def confirm_enrolment(
    request: Request,
    signed: AnyRolePostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    settings: SettingsDep,
    totp: Annotated[str, Form(min_length=1, max_length=10), Clean],
) -> HTMLResponse | RedirectResponse:
    officer = _me(signed)
    try:
        with session.begin_nested():
            codes = officer_account.confirm_totp(
                session, officer=officer, code=totp, secret_key=settings.secret_key, now=now
            )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return back(f"{PAGE}#totp-h", problem=refusal(exc))
    return _page(request, signed, session, lang, settings.secret_key, now, recovery=codes)


@router.post("/account/tokens", response_model=None)
def issue_token(
    request: Request,
    signed: AnyRolePostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    settings: SettingsDep,
    name: Annotated[str, Form(min_length=1, max_length=100), Clean],
    days: Annotated[int, Form(ge=1, le=officer_tokens.MAX_DAYS)] = officer_tokens.DEFAULT_DAYS,
) -> HTMLResponse:
    officer = _me(signed)
    made = officer_tokens.issue(session, officer=officer, region_code=signed.regulator.region_code,
                                name=name, days=days, now=now)  # fmt: skip
    return _page(request, signed, session, lang, settings.secret_key, now, issued=made)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(
    token_id: str, signed: AnyRolePostDep, session: SessionDep, now: NowDep
) -> RedirectResponse:
    officer = _me(signed)
    return act(
        session,
        f"{PAGE}#tokens-h",
        lambda: officer_tokens.revoke(
            session,
            officer=officer,
            token_id=token_id,
            now=now,
            region_code=signed.regulator.region_code,
        ),
        N_("The token is revoked."),
    )
