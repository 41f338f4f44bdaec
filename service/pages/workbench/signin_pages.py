"""Signing in and out of the workbench."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api.auth import vouch_session
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.errors import DomainError
from service.kit.wire import Clean
from service.pages.labels import N_
from service.pages.signin import COOKIE, SESSION_HOURS, sign_in, sign_in_officer, sign_out
from service.pages.web import AnyRolePostDep, LangDep, back, render
from service.pages.workbench.common import local_path, refusal

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, lang: LangDep, next: str = "/workbench") -> HTMLResponse:
    import secrets

    csrf = request.cookies.get("tg_csrf") or secrets.token_urlsafe(24)
    page = render(request, "sign_in.html", lang, csrf=csrf, next_url=local_path(next))
    page.set_cookie(
        "tg_csrf",
        csrf,
        httponly=True,
        samesite="strict",
        path="/workbench",
        secure=request.url.scheme == "https",
    )
    return page


Field = Annotated[str, Form(max_length=200), Clean]


@router.post("/sign-in")
def sign_in_post(
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    token: Field = "",
    username: Field = "",
    password: Field = "",
    totp: Field = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/workbench",
) -> RedirectResponse:
    """An officer's username, password and code; or the office's token (machine clients and
    offices without officers yet). The double-submitted CSRF cookie guards this one form
    (there is no session yet)."""
    expected = request.cookies.get("tg_csrf")
    if not expected or expected != csrf:
        return back(_again(next), problem=N_("The form is stale: try again."))
    address = request.client.host if request.client else "unknown"
    if username:
        try:
            made = sign_in_officer(
                session, username=username, password=password, totp=totp, now=now,
                address=address, secret_key=settings.secret_key,
            )  # fmt: skip
        except DomainError as exc:
            if exc.code != "second_factor_reset_required":
                raise
            # The right password, a secret the server's key no longer opens: say who can help.
            return back(_again(next), problem=refusal(exc))
        if made is None:
            return back(_again(next), problem=N_("The username, password or code is wrong."))
    else:
        made = sign_in(session, token=token, now=now, address=address)
        if made is None:
            return back(_again(next), problem=N_("This token is not a regulator's."))
    cookie, signed = made
    vouch_session(request, cookie, "regulator", signed.regulator.id)
    response = RedirectResponse(local_path(next), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out_post(
    request: Request, session: SessionDep, signed: AnyRolePostDep, now: NowDep
) -> RedirectResponse:
    sign_out(session, signed=signed, cookie=request.cookies.get(COOKIE), now=now)
    response = back("/workbench/sign-in", done=N_("You are signed out."))
    response.delete_cookie(COOKIE, path="/")
    return response


def _again(next_url: str) -> str:
    """The sign-in page again, still going where the regulator was going."""
    return f"/workbench/sign-in?next={quote(local_path(next_url))}"
