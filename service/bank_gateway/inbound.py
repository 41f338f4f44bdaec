"""Checking that a request comes from the bank it names: its HMAC signature under that bank's
secret, within the freshness window (docs/api.md "Who calls, and
how they prove it")."""

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
    """The bank whose secret signed this request within `window` seconds of `now`, or None.
    The secret a rotation replaced is tried too until its overlap ends (`now` is the caller's
    clock, so a replaced secret cannot be kept alive by a request's own timestamp)."""
    bank = session.get(Bank, bank_id)
    if bank is None:
        return None
    ciphers = [bank.secret_ciphertext]
    until = bank.previous_secret_until
    if bank.previous_secret_ciphertext and until is not None and now < until.timestamp():
        ciphers.append(bank.previous_secret_ciphertext)
    for cipher in ciphers:
        ok = verify(
            decrypt_secret(secret_key, cipher),
            timestamp=timestamp,
            method=method,
            path_and_query=path_and_query,
            body=body,
            given=given,
            now=now,
            window=window,
        )
        if ok:
            return bank
    return None
