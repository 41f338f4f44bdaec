"""Custody bank endpoints: HMAC-signed, idempotent on natural keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.http.auth import BankDep

router = APIRouter(prefix="/bank", tags=["bank"])


@router.get("/whoami")
def whoami(bank: BankDep) -> dict[str, Any]:
    """A signed no-op: lets a bank check its signing before it sends money messages."""
    return {"bank_id": bank.id, "name": bank.name, "code": bank.code}
