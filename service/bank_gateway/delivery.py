"""Pushing instructions to banks' `instruction_url` over httpx, signed as docs/api.md says.

Delivery happens after the instruction is committed, never inside a database transaction.
Each attempt has an explicit timeout; failures (timeouts, connection errors, 5xx) are retried
with exponential backoff and full jitter, always with the same instruction id so the bank can
deduplicate. An instruction still undelivered after the retry budget is tried again by the
`instruction_delivery` job; banks can also pull pending instructions at any time.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.bank_gateway.messages import InstructionMessage
from service.bank_gateway.signing import signed_headers
from service.config import Settings
from service.flows.models import Instruction
from service.kit.db import session_scope
from service.registry.credentials import decrypt_secret
from service.registry.models import Bank, Institution

log = logging.getLogger("tuitionguard.delivery")


def push(
    client: httpx.Client,
    *,
    url: str,
    bank_id: str,
    secret: str,
    payload: dict[str, object],
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """(delivered, attempts made, last error). A 4xx other than 408/429 is final."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    error: str | None = None
    for attempt in range(1, attempts + 1):
        headers = signed_headers(
            secret,
            bank_id=bank_id,
            timestamp=int(time.time()),
            method="POST",
            path_and_query=path,
            body=body,
        )
        headers["content-type"] = "application/json"
        headers["Idempotency-Key"] = str(payload["id"])
        try:
            resp = client.post(url, content=body, headers=headers)
            if resp.status_code < 300:
                return True, attempt, None
            error = f"HTTP {resp.status_code}"
            if 400 <= resp.status_code < 500 and resp.status_code not in (408, 409, 429):
                return False, attempt, error
            if resp.status_code == 409:  # the bank has it already: delivered
                return True, attempt, None
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        if attempt < attempts:
            sleep(random.uniform(0, backoff * 2 ** (attempt - 1)))
    return False, attempts, error


def deliver_pending(
    sessions: sessionmaker[Session],
    *,
    settings: Settings,
    clock: Callable[[], datetime],
    client: httpx.Client | None = None,
    limit: int = 200,
    region_prefix: str | None = None,
) -> dict[str, int]:
    """Push undelivered pending instructions (of one region's institutions, if given), each
    outside any database transaction, and record each attempt."""
    with session_scope(sessions) as s:
        outbox = _outbox(s, limit=limit, region_prefix=region_prefix)
    own = client is None
    client = client or httpx.Client(timeout=httpx.Timeout(settings.bank_timeout_seconds))
    delivered = failed = 0
    try:
        for ins_id, bank_id, url, cipher, payload in outbox:
            ok, tries, error = push(
                client,
                url=url,
                bank_id=bank_id,
                secret=decrypt_secret(settings.secret_key, cipher),
                payload=payload,
                attempts=settings.bank_max_attempts,
                backoff=settings.bank_backoff_base_seconds,
            )
            _record(sessions, ins_id, ok=ok, tries=tries, error=error, at=clock())
            delivered += ok
            failed += not ok
    finally:
        if own:
            client.close()
    return {"delivered": delivered, "undelivered": failed}


Outbound = tuple[str, str, str, str, dict[str, object]]  # id, bank, url, secret, payload


def _outbox(s: Session, *, limit: int, region_prefix: str | None) -> list[Outbound]:
    stmt = (
        select(Instruction, Bank.instruction_url, Bank.secret_ciphertext)
        .join(Bank, Bank.id == Instruction.bank_id)
        .where(
            Instruction.status == "pending",
            Instruction.delivered_at.is_(None),
            Bank.instruction_url.is_not(None),
        )
    )
    if region_prefix is not None:
        stmt = stmt.where(
            Instruction.institution_id.in_(
                select(Institution.id).where(Institution.region_code.startswith(region_prefix))
            )
        )
    rows = s.execute(stmt.order_by(Instruction.created_at).limit(limit)).all()
    return [
        (ins.id, ins.bank_id, str(url), cipher, InstructionMessage.of(ins).model_dump(mode="json"))
        for ins, url, cipher in rows
    ]


def _record(
    sessions: sessionmaker[Session], ins_id: str, *, ok: bool, tries: int, error: str | None,
    at: datetime,
) -> None:  # fmt: skip
    with session_scope(sessions) as s:
        ins = s.get(Instruction, ins_id)
        assert ins is not None
        ins.delivery_attempts += tries
        ins.last_delivery_error = error
        if ok:
            ins.delivered_at = at
    if not ok:
        log.warning("instruction %s not delivered: %s", ins_id, error)
