"""The office's officers, for its admin: who they are and in which role, a new officer (the
password and authenticator shown once, as `officer create` prints them, with the QR code the
new officer scans), another role, a new authenticator (shown once the same way), disabling.
The same domain calls as the API's (service.registry.officers), the same rule: the admin of
the office only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from service.api.deps import NowDep, SessionDep, SettingsDep
from service.kit.qr import qr_svg
from service.kit.wire import Clean
from service.pages.labels import N_
from service.pages.signin import SignedIn
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import act
from service.registry import officers

router = APIRouter(prefix="/workbench", include_in_schema=False)
PAGE = "/workbench/officers"
RoleField = Annotated[Literal["viewer", "officer", "supervisor", "admin"], Form()]


def _admin(signed: SignedIn) -> None:
    officers.require(signed.role, officers.Permission.MANAGE_OFFICERS)


def _page(
    request: Request, signed: SignedIn, session: Session, lang: str, **shown: Any
) -> HTMLResponse:
    page = render(request, "officers.html", lang, signed=signed,
                  people=officers.of_office(session, signed.regulator),
                  roles=[r.value for r in officers.Role], **shown)  # fmt: skip
    if shown:  # a password shown once: not kept by the browser's cache
        page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/officers", response_class=HTMLResponse)
def officers_page(
    request: Request, signed: SignedDep, session: SessionDep, lang: LangDep
) -> HTMLResponse:
    _admin(signed)
    return _page(request, signed, session, lang)


@router.post("/officers", response_class=HTMLResponse)
def create(
    request: Request,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    settings: SettingsDep,
    name: Annotated[str, Form(min_length=1, max_length=200), Clean],
    role: RoleField,
) -> HTMLResponse:
    _admin(signed)
    made = officers.create_officer(
        session, regulator=signed.regulator, name=name, role=role, now=now,
        secret_key=settings.secret_key, actor=f"regulator:{signed.regulator.id}",
    )  # fmt: skip
    link = officers.otpauth_uri(made.username, made.totp_secret)
    return _page(request, signed, session, lang, created=made, created_name=name,
                 qr=qr_svg(link).decode())  # fmt: skip


@router.post("/officers/{officer_id}/role")
def change_role(
    officer_id: str, signed: PostDep, session: SessionDep, now: NowDep, role: RoleField
) -> RedirectResponse:
    _admin(signed)
    me = signed.officer.id if signed.officer else None
    return act(
        session,
        PAGE,
        lambda: officers.set_role(
            session,
            regulator=signed.regulator,
            officer_id=officer_id,
            role=role,
            now=now,
            by=me,
            actor=f"regulator:{signed.regulator.id}",
        ),
        N_("The role is changed."),
    )


@router.post("/officers/{officer_id}/disable")
def disable(officer_id: str, signed: PostDep, session: SessionDep, now: NowDep) -> RedirectResponse:
    _admin(signed)
    return act(
        session,
        PAGE,
        lambda: officers.disable(
            session,
            regulator=signed.regulator,
            officer_id=officer_id,
            actor=f"regulator:{signed.regulator.id}",
            now=now,
        ),
        N_("The officer is disabled: their sessions and tokens stopped."),
    )


@router.post("/officers/{officer_id}/totp-reset", response_class=HTMLResponse)
def reset_second_factor(
    officer_id: str,
    request: Request,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """A new authenticator for an officer (a lost phone, or a secret the server's key no
    longer opens): the new key and its QR code shown once, to hand over in person."""
    _admin(signed)
    done = officers.reset_second_factor(
        session, regulator=signed.regulator, officer_id=officer_id, now=now,
        actor=f"regulator:{signed.regulator.id}", secret_key=settings.secret_key,
        by=signed.officer.id if signed.officer else None,
    )  # fmt: skip
    person = officers.in_office(session, signed.regulator, officer_id)
    link = officers.otpauth_uri(done.username, done.totp_secret)
    return _page(request, signed, session, lang, reset=done, reset_name=person.name,
                 qr=qr_svg(link).decode())  # fmt: skip
