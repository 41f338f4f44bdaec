"""Officers of an office (docs/api.md "Officers and approvals"): signing in as a person, and an
office's admin managing its officers. One domain call each (service.registry.officers)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.api.problems import problem_response
from service.api.schemas import Page, Read
from service.kit.money import InstantOut
from service.kit.wire import Strict
from service.registry import officers
from service.registry.models import Officer, Regulator


def _admin(request: Request) -> None:
    """An admin of the office: judged before the body is read, so that whoever may not manage
    officers is refused the same way whatever they send."""
    officer: Officer | None = getattr(request.state, "officer", None)
    officers.require(officer.role if officer else None, officers.Permission.MANAGE_OFFICERS)


# Signing in is the one officer route without a credential.
sessions_router = APIRouter(tags=["officers"])
# Managing the office's officers: its admin only.
router = APIRouter(tags=["officers"], dependencies=[Depends(_admin)])


class OfficerSessionIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)
    totp: str = Field(min_length=1, max_length=16)  # six digits, or a recovery code


class OfficerBrief(Read):
    id: str
    name: str
    role: str
    office_id: str
    region_code: str


class OfficerSessionRead(Read):
    token: str
    expires_at: InstantOut
    officer: OfficerBrief


class OfficerIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["viewer", "officer", "supervisor", "admin"]


class OfficerRead(Read):
    id: str
    name: str
    username: str
    role: str
    office_id: str
    created_at: InstantOut
    disabled_at: InstantOut | None

    @classmethod
    def of(cls, o: Officer) -> OfficerRead:
        return cls(id=o.id, name=o.name, username=o.username, role=o.role,
                   office_id=o.regulator_id, created_at=o.created_at,
                   disabled_at=o.disabled_at)  # fmt: skip


class OfficerCreatedRead(Read):
    officer_id: str
    username: str
    password: str
    totp_secret: str


def _brief(o: Officer, office: Regulator) -> OfficerBrief:
    return OfficerBrief(
        id=o.id, name=o.name, role=o.role, office_id=office.id, region_code=office.region_code
    )


@sessions_router.post(
    "/officer-sessions",
    status_code=201,
    response_model=OfficerSessionRead,
    responses={
        401: {"description": "invalid_credentials"},
        409: {"description": "second_factor_reset_required"},
        429: {"description": "too_many_attempts"},
    },
)
def open_session(
    body: OfficerSessionIn,
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> Any:
    """Sign in as an officer: username, password and the current TOTP code give a bearer token
    for a working day, scoped to the office's region and limited by the officer's role. Any
    wrong part is the same 401 `invalid_credentials`; repeated failures are 429 with
    `Retry-After`, yet the right password with the current code is always admitted. The right
    password of an officer whose stored TOTP secret the server's key no longer opens (the key
    changed) is 409 `second_factor_reset_required`: an admin resets it
    (`/officers/{id}/totp-reset`)."""
    opened = officers.sign_in(
        session,
        username=body.username,
        password=body.password,
        totp=body.totp,
        client=request.client.host if request.client else "unknown",
        now=now,
        secret_key=settings.secret_key,
    )
    if opened is None:  # answered, not raised, so that the failure count is committed
        return problem_response("invalid_credentials", "the username, password or code is wrong")
    return OfficerSessionRead(
        token=opened.token,
        expires_at=opened.expires_at,
        officer=_brief(opened.officer, opened.regulator),
    )


@router.get("/officers", response_model=Page[OfficerRead])
def list_officers(regulator: RegulatorDep, session: SessionDep) -> Page[OfficerRead]:
    """The office's officers, disabled ones included (an `admin` of the office only)."""
    found = officers.of_office(session, regulator)
    return Page[OfficerRead](items=[OfficerRead.of(o) for o in found], next_cursor=None)


@router.post("/officers", status_code=201, response_model=OfficerCreatedRead)
def create_officer(
    body: OfficerIn,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> OfficerCreatedRead:
    """A new officer of the office (an `admin` only): the answer is what `officer create`
    prints, the password and TOTP secret shown this once."""
    made = officers.create_officer(
        session, regulator=regulator, name=body.name, role=body.role, now=now,
        secret_key=settings.secret_key, actor=f"regulator:{regulator.id}",
    )  # fmt: skip
    return OfficerCreatedRead(**made.as_dict())


@router.post("/officers/{officer_id}/disable", response_model=OfficerRead)
def disable_officer(
    officer_id: str, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> OfficerRead:
    """Disable an officer of the office (an `admin` only): their tokens and workbench sessions
    stop at once. Officers are never deleted: the audit log keeps naming them."""
    done = officers.disable(
        session, regulator=regulator, officer_id=officer_id, actor=f"regulator:{regulator.id}",
        now=now,
    )  # fmt: skip
    return OfficerRead.of(done)


class RoleIn(Strict):
    role: Literal["viewer", "officer", "supervisor", "admin"]


@router.post("/officers/{officer_id}/role", response_model=OfficerRead)
def change_role(
    officer_id: str,
    body: RoleIn,
    regulator: RegulatorDep,
    request: Request,
    session: SessionDep,
    now: NowDep,
) -> OfficerRead:
    """Give an officer of the office another role (an `admin` only; not their own): it holds
    from the officer's next request on. Audited with the role before and after."""
    me: Officer | None = getattr(request.state, "officer", None)
    done = officers.set_role(
        session, regulator=regulator, officer_id=officer_id, role=body.role, now=now,
        actor=f"regulator:{regulator.id}", by=me.id if me else None,
    )  # fmt: skip
    return OfficerRead.of(done)


class SecondFactorRead(Read):
    officer_id: str
    username: str
    totp_secret: str = Field(description="the new authenticator's secret, shown this once")
    otpauth_uri: str


@router.post("/officers/{officer_id}/totp-reset", response_model=SecondFactorRead)
def reset_second_factor(
    officer_id: str,
    regulator: RegulatorDep,
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> SecondFactorRead:
    """A new authenticator for an officer of the office (an `admin` only; not their own): for
    a lost phone, or a secret the server's key no longer opens (sign-in answered 409
    `second_factor_reset_required`). The recovery codes and any pending enrolment go, every
    session of the officer ends; the new secret is shown this once, to hand over in person.
    Audited."""
    me: Officer | None = getattr(request.state, "officer", None)
    done = officers.reset_second_factor(
        session, regulator=regulator, officer_id=officer_id, now=now,
        actor=f"regulator:{regulator.id}", secret_key=settings.secret_key,
        by=me.id if me else None,
    )  # fmt: skip
    return SecondFactorRead(**done.as_dict())
