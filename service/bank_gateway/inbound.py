"""Checking that a request comes from the bank it names: its HMAC signature under that bank's
secret, within the freshness window (API.md "Bank request signing")."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.bank_gateway.signing import verify
from service.registry.credentials import decrypt_secret
from service.registry.models import Bank


def bank_by_signature(
    session: Session,
    *,
    secret_key: str,
    window: int,
    bank_id: str,
    timestamp: str,
    given: str,
    method: str,
    path_and_query: str,
    body: bytes,
    now: int,
) -> Bank | None:
    """The bank whose secret signed this request within `window` seconds of `now`, or None."""
    bank = session.get(Bank, bank_id)
    if bank is None:
        return None
    ok = verify(
        decrypt_secret(secret_key, bank.secret_ciphertext),
        timestamp=timestamp,
        method=method,
        path_and_query=path_and_query,
        body=body,
        given=given,
        now=now,
        window=window,
    )
    return bank if ok else None
