"""One dependency per kind of caller (docs/api.md "Who calls, and how they prove it")."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.api.deps import NowDep, SessionDep, SettingsDep
from service.api.idempotency import Identify
from service.api.ratelimit import (
    CHARGE,
    OVER,
    Charge,
    Vouched,
    bearer_claim,
    seconds_of,
    session_claim,
)
from service.bank_gateway import inbound
from service.config import Settings
from service.errors import DomainError
from service.flows import parents
from service.flows.models import Enrollment
from service.kit.db import session_scope
from service.registry import credentials, institution_keys, officers
from service.registry.models import Bank, Institution, Officer, Regulator

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError("unauthenticated", "send Authorization: Bearer <token>")
    return token.strip()


def vouch(request: Request, kind: str, caller_id: object) -> None:
    """The credential checked: from now on the request's claim spends its caller's rate budget,
    not its address's (service.api.ratelimit). A request the limiter left for its guard to
    charge (a bank's) spends the caller's budget now: 429 if it is spent."""
    caller = f"{kind}:{caller_id}"
    vouched: Vouched | None = getattr(request.app.state, "vouched", None)
    if vouched is not None:
        vouched.vouch(request.scope, caller)
    charge: Charge | None = request.scope.get("state", {}).get(CHARGE)
    if charge is not None and not charge.spent:
        wait = charge.caller(caller)
        if wait > 0:
            seconds = seconds_of(wait)
            raise DomainError(
                "rate_limited", f"too many requests from this caller; retry in {seconds} s",
                retry_after=seconds,
            )  # fmt: skip


def vouch_token(request: Request, token: str, kind: str, caller_id: object) -> None:
    """A sign-in handed out this bearer token: its next requests spend the caller's budget
    from the first on (a flood at the address cannot keep a parent from their enrollment)."""
    vouched: Vouched | None = getattr(request.app.state, "vouched", None)
    if vouched is not None:
        vouched.vouch_claim(bearer_claim(token), f"{kind}:{caller_id}")


def over_address_budget(request: Request) -> int | None:
    """For a sign-in (service.api.ratelimit.SIGN_INS): the seconds its address must wait if it
    came past its address's spent budget; the right secret is admitted all the same."""
    wait: int | None = request.scope.get("state", {}).get(OVER)
    return wait


def vouch_session(request: Request, cookie: str, kind: str, caller_id: object) -> None:
    """A page's sign-in set this session cookie: its next requests spend the caller's budget
    from the first on (a flood at the address cannot keep a parent from their page)."""
    vouched: Vouched | None = getattr(request.app.state, "vouched", None)
    if vouched is not None:
        vouched.vouch_claim(session_claim(cookie), f"{kind}:{caller_id}")


def office_of(session: Session, token: str, now: datetime) -> tuple[Regulator, Officer | None]:
    """The office a bearer token speaks for: its own token (no officer), or a live token of
    one of its officers (not expired, not disabled, password unchanged)."""
    reg = credentials.regulator_by_token(session, token)
    if reg is not None:
        return reg, None
    officer = officers.by_token(session, token, now)
    office = session.get(Regulator, officer.regulator_id) if officer is not None else None
    if officer is None or office is None:
        raise DomainError("unauthenticated", "unknown regulator or officer token")
    return office, officer


def enter_as(session: Session, method: str, officer: Officer | None) -> None:
    """The officer's role bounds the request (a viewer writes nothing), and every audit record
    it writes names them."""
    if method.upper() not in SAFE_METHODS:
        officers.require(officer.role if officer else None, officers.Permission.ACT)
    officers.acting(session, officer)


def _regulator(request: Request, session: SessionDep, now: NowDep) -> Regulator:
    reg, officer = office_of(session, bearer_token(request), now)
    vouch(request, "regulator", reg.id)
    enter_as(session, request.method, officer)
    request.state.officer = officer
    request.state.officer_id = officer.id if officer is not None else None
    return reg


def _officer(request: Request, session: SessionDep, now: NowDep) -> Officer:
    """An officer's own account (sessions, password, authenticator, API tokens): the person
    signed in with their password and a code, whatever their role (a viewer too changes their
    password). Neither the office's token nor an API token manages a person's credentials."""
    _office, officer = office_of(session, bearer_token(request), now)
    if officer is None or session.info.get(officers.CREDENTIAL) != "session":
        raise DomainError("person_required", "sign in as the officer (POST /officer-sessions)")
    vouch(request, "regulator", officer.regulator_id)
    officers.acting(session, officer)
    return officer


def _institution(request: Request, session: SessionDep, now: NowDep) -> Institution:
    inst = institution_keys.institution_by_key(session, bearer_token(request), now)
    if inst is None:
        raise DomainError("unauthenticated", "unknown institution API key")
    vouch(request, "institution", inst.id)
    return inst


async def _bank(request: Request, session: SessionDep, settings: SettingsDep) -> Bank:
    bank_id = request.headers.get("x-bank-id")
    timestamp = request.headers.get("x-timestamp")
    given = request.headers.get("x-signature")
    if not (bank_id and timestamp and given):
        raise DomainError(
            "invalid_signature", "X-Bank-Id, X-Timestamp and X-Signature are required"
        )
    body = await request.body()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    bank = await run_in_threadpool(
        lambda: inbound.bank_by_signature(
            session,
            secret_key=settings.secret_key,
            window=settings.signature_window_seconds,
            bank_id=bank_id,
            timestamp=timestamp,
            given=given,
            method=request.method,
            path_and_query=path,
            body=body,
            now=int(time.time()),
        )
    )
    if bank is None:
        raise DomainError("invalid_signature", "the signature is missing, wrong or stale")
    vouch(request, "bank", bank.id)
    return bank


def _regulator_outside_tx(request: Request) -> Regulator:
    """For endpoints that run their own transactions (jobs): authenticate in a transaction of
    its own, closed before the endpoint runs, so that on SQLite no write lock is held."""
    with session_scope(request.app.state.sessions) as session:
        reg, officer = office_of(session, bearer_token(request), request.app.state.clock())
        enter_as(session, request.method, officer)
        session.expunge(reg)
        vouch(request, "regulator", reg.id)
        request.state.officer_id = officer.id if officer is not None else None
        return reg


def idempotency_caller(sessions: sessionmaker[Session], settings: Settings) -> Identify:
    """Whose namespace an `Idempotency-Key` belongs to: a bank whose signature checks, or the
    holder of a bearer credential (by its hash). None for anyone else: nothing is kept."""

    def identify(headers: dict[bytes, bytes], method: str, path: str, body: bytes) -> str | None:
        bank_id = headers.get(b"x-bank-id", b"").decode("latin-1")
        if bank_id:
            timestamp = headers.get(b"x-timestamp", b"").decode("latin-1")
            given = headers.get(b"x-signature", b"").decode("latin-1")
            if not (bank_id.isascii() and bank_id.isprintable() and timestamp and given):
                return None
            with session_scope(sessions) as s:
                bank = inbound.bank_by_signature(
                    s,
                    secret_key=settings.secret_key,
                    window=settings.signature_window_seconds,
                    bank_id=bank_id,
                    timestamp=timestamp,
                    given=given,
                    method=method,
                    path_and_query=path,
                    body=body,
                    now=int(time.time()),
                )
            return f"bank:{bank.id}" if bank is not None else None
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return None
        return "auth:" + hashlib.sha256(token.strip()).hexdigest()[:40]

    return identify


def _either(request: Request, session: SessionDep, now: NowDep) -> Regulator | Institution:
    """A regulator or an institution (routes docs/api.md gives both callers)."""
    token = bearer_token(request)
    found: Regulator | Institution | None = institution_keys.institution_by_key(session, token, now)
    if found is None:
        found, officer = office_of(session, token, now)
        enter_as(session, request.method, officer)
    vouch(request, "regulator" if isinstance(found, Regulator) else "institution", found.id)
    return found


def _parent(request: Request, session: SessionDep, now: NowDep) -> Enrollment:
    """A parent's session: it sees exactly one enrollment."""
    e = parents.by_token(session, bearer_token(request), now)
    if e is None:
        raise DomainError("unauthenticated", "unknown or expired parent session")
    vouch(request, "parent", e.id)
    return e


def officer_id_of(request: Request) -> str | None:
    """The officer a regulator's request was authenticated as (None: the office's token)."""
    found = getattr(request.state, "officer_id", None)
    return str(found) if found else None


RegulatorDep = Annotated[Regulator, Depends(_regulator)]
OfficerDep = Annotated[Officer, Depends(_officer)]
RegulatorOutsideTxDep = Annotated[Regulator, Depends(_regulator_outside_tx)]
InstitutionDep = Annotated[Institution, Depends(_institution)]
BankDep = Annotated[Bank, Depends(_bank)]
RegulatorOrInstitutionDep = Annotated[Regulator | Institution, Depends(_either)]
ParentDep = Annotated[Enrollment, Depends(_parent)]

# What a router is guarded by, attached where it is included (service/app.py), so that a route
# added to a guarded router cannot be public by forgetting.
GUARDS: dict[str, Callable[..., Any] | None] = {
    "regulator": _regulator,
    "regulator_outside_tx": _regulator_outside_tx,
    "officer": _officer,
    "institution": _institution,
    "bank": _bank,
    "parent": _parent,
    "regulator_or_institution": _either,
    "public": None,
}
