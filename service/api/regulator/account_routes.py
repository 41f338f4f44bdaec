"""An officer's own account (docs/api.md "Officers and approvals"): signing out everywhere, a
new password, an authenticator enrolled by QR code with recovery codes, and API tokens. The
person signed in with a password and a code only (`OfficerDep`), whatever their role. One
domain call each (service.registry.officer_account, service.registry.officer_tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from service.api.auth import OfficerDep
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.api.problems import problem_response
from service.api.schemas import Page, Read
from service.kit.money import InstantOut
from service.kit.wire import Strict
from service.registry import officer_account, officer_tokens, officers
from service.registry.models import OfficerToken

router = APIRouter(tags=["officers"])


class EndedRead(Read):
    ended_at: InstantOut


@router.post("/officer-sessions/revoke-all", response_model=EndedRead)
def sign_out_everywhere(officer: OfficerDep, session: SessionDep, now: NowDep) -> EndedRead:
    """Sign out everywhere: every session of the officer, this one included, on the API and
    in the workbench, ends now. API tokens stay until revoked (`/officer-tokens`)."""
    return EndedRead(ended_at=officer_account.end_sessions(session, officer=officer, now=now))


class PasswordIn(Strict):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


class PasswordRead(Read):
    changed_at: InstantOut


@router.post(
    "/officer-password",
    response_model=PasswordRead,
    responses={403: {"description": "wrong_password"}, 422: {"description": "weak_password"}},
)
def change_password(body: PasswordIn, officer: OfficerDep, session: SessionDep, now: NowDep) -> Any:
    """A new password (at least 12 characters, not a common one, not holding the username),
    given the current one. Every session of the officer ends, this one included: sign in
    again. A wrong current password is 403 `wrong_password` (counted: 429 after repeated
    ones)."""
    changed = officer_account.change_password(
        session, officer=officer, current=body.current_password, new=body.new_password, now=now
    )
    if not changed:  # answered, not raised, so that the count is committed
        return problem_response("wrong_password", "the current password is wrong")
    return PasswordRead(changed_at=now)


class EnrolmentRead(Read):
    secret: str
    otpauth_uri: str
    qr_svg: str = Field(description="the otpauth:// link as an SVG QR code, for the app to scan")


@router.post("/officer-totp", status_code=201, response_model=EnrolmentRead)
def start_enrolment(
    officer: OfficerDep, session: SessionDep, settings: SettingsDep
) -> EnrolmentRead:
    """A new authenticator: its secret, otpauth:// link and QR code. The current one keeps
    working until a code of the new one confirms it (`/officer-totp/confirm`)."""
    e = officer_account.start_totp(session, officer=officer, secret_key=settings.secret_key)
    return EnrolmentRead(secret=e.secret, otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg)


class ConfirmIn(Strict):
    totp: str = Field(min_length=1, max_length=10)


class RecoveryRead(Read):
    recovery_codes: list[str] = Field(description="single-use, shown this once")


@router.post(
    "/officer-totp/confirm",
    response_model=RecoveryRead,
    responses={409: {"description": "no_enrolment"}, 422: {"description": "invalid_totp"}},
)
def confirm_enrolment(
    body: ConfirmIn, officer: OfficerDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> RecoveryRead:
    """One valid code of the new authenticator makes it the officer's; the answer is a new set
    of recovery codes (each good once at sign-in in place of a code; earlier ones stop)."""
    codes = officer_account.confirm_totp(
        session, officer=officer, code=body.totp, secret_key=settings.secret_key, now=now
    )
    return RecoveryRead(recovery_codes=codes)


class TokenIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int = Field(default=officer_tokens.DEFAULT_DAYS, ge=1,
                                 le=officer_tokens.MAX_DAYS)  # fmt: skip


class TokenRead(Read):
    id: str
    name: str
    created_at: InstantOut
    expires_at: InstantOut
    revoked_at: InstantOut | None

    @classmethod
    def of(cls, t: OfficerToken) -> TokenRead:
        return cls(id=t.id, name=t.name, created_at=t.created_at, expires_at=t.expires_at,
                   revoked_at=t.revoked_at)  # fmt: skip


class TokenIssuedRead(TokenRead):
    token: str = Field(description="the bearer token, shown this once")


@router.get("/officer-tokens", response_model=Page[TokenRead])
def list_tokens(officer: OfficerDep, session: SessionDep) -> Page[TokenRead]:
    """The officer's API tokens, revoked and expired ones too (never the tokens themselves)."""
    found = officer_tokens.of_officer(session, officer)
    return Page[TokenRead](items=[TokenRead.of(t) for t in found], next_cursor=None)


@router.post("/officer-tokens", status_code=201, response_model=TokenIssuedRead)
def issue_token(
    body: TokenIn, officer: OfficerDep, session: SessionDep, now: NowDep
) -> TokenIssuedRead:
    """A named API token for a script working in the officer's name, with the officer's role,
    until it expires (1 to 365 days, 90 by default) or is revoked; kept as a hash, shown this
    once. Disabling the officer stops it at once."""
    office = officers.office(session, officer)
    made = officer_tokens.issue(session, officer=officer, region_code=office.region_code,
                                name=body.name, days=body.expires_in_days, now=now)  # fmt: skip
    return TokenIssuedRead(**TokenRead.of(made.row).model_dump(), token=made.token)


@router.post("/officer-tokens/{token_id}/revoke", response_model=TokenRead)
def revoke_token(token_id: str, officer: OfficerDep, session: SessionDep, now: NowDep) -> TokenRead:
    """The token stops at once (another officer's is not found)."""
    office = officers.office(session, officer)
    done = officer_tokens.revoke(session, officer=officer, region_code=office.region_code,
                                 token_id=token_id, now=now)  # fmt: skip
    return TokenRead.of(done)
