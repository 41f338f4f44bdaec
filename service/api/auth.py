"""One dependency per kind of caller (API.md "Who calls, and how they prove it")."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, SettingsDep
from service.api.idempotency import Identify
from service.config import Settings
from service.errors import DomainError
from service.kit.db import session_scope
from service.registry import credentials
from service.registry.models import Bank, Institution, Regulator


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
    bank = await run_in_threadpool(
        lambda: credentials.bank_by_signature(
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
    return bank


def _regulator_outside_tx(request: Request) -> Regulator:
    """For endpoints that run their own transactions (jobs): authenticate in a transaction of
    its own, closed before the endpoint runs, so that on SQLite no write lock is held."""
    with session_scope(request.app.state.sessions) as session:
        reg = credentials.regulator_by_token(session, bearer_token(request))
        if reg is None:
            raise DomainError("unauthenticated", "unknown regulator token")
        session.expunge(reg)
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
                bank = credentials.bank_by_signature(
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


RegulatorDep = Annotated[Regulator, Depends(_regulator)]
RegulatorOutsideTxDep = Annotated[Regulator, Depends(_regulator_outside_tx)]
InstitutionDep = Annotated[Institution, Depends(_institution)]
BankDep = Annotated[Bank, Depends(_bank)]
