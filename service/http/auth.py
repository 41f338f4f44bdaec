"""One dependency per kind of caller (API.md "Who calls, and how they prove it")."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from service.errors import DomainError
from service.http.deps import SessionDep, SettingsDep
from service.registry import credentials
from service.registry.models import Bank, Institution, Regulator
from service.signing import verify


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError("unauthenticated", "send Authorization: Bearer <token>")
    return token.strip()


def _regulator(request: Request, session: SessionDep) -> Regulator:
    reg = credentials.regulator_by_token(session, bearer_token(request))
    if reg is None:
        raise DomainError("unauthenticated", "unknown regulator token")
    return reg


def _institution(request: Request, session: SessionDep) -> Institution:
    inst = credentials.institution_by_key(session, bearer_token(request))
    if inst is None:
        raise DomainError("unauthenticated", "unknown institution API key")
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

    def check() -> Bank | None:
        bank = session.scalar(select(Bank).where(Bank.id == bank_id))
        if bank is None:
            return None
        secret = credentials.decrypt_secret(settings.secret_key, bank.secret_ciphertext)
        ok = verify(
            secret,
            timestamp=timestamp,
            method=request.method,
            path_and_query=path,
            body=body,
            given=given,
            now=int(time.time()),
            window=settings.signature_window_seconds,
        )
        return bank if ok else None

    bank = await run_in_threadpool(check)
    if bank is None:
        raise DomainError("invalid_signature", "the signature is missing, wrong or stale")
    return bank


def _regulator_outside_tx(request: Request) -> Regulator:
    """For endpoints that run their own transactions (jobs): authenticate in a transaction of
    its own, closed before the endpoint runs, so that on SQLite no write lock is held."""
    from service.db import session_scope

    with session_scope(request.app.state.sessions) as session:
        reg = credentials.regulator_by_token(session, bearer_token(request))
        if reg is None:
            raise DomainError("unauthenticated", "unknown regulator token")
        session.expunge(reg)
        return reg


RegulatorDep = Annotated[Regulator, Depends(_regulator)]
RegulatorOutsideTxDep = Annotated[Regulator, Depends(_regulator_outside_tx)]
InstitutionDep = Annotated[Institution, Depends(_institution)]
BankDep = Annotated[Bank, Depends(_bank)]
