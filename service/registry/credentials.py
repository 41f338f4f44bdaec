"""Creating and checking credentials. Tokens are stored only as hashes; bank secrets are
stored encrypted because we must use them to verify and to sign."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id, new_token, token_hash
from service.registry.models import Bank, Regulator
from service.registry.regions import is_valid_region


def _fernet(secret_key: str) -> Fernet:
    key = base64.urlsafe_b64encode(hashlib.sha256(b"bank-secrets:" + secret_key.encode()).digest())
    return Fernet(key)


def encrypt_secret(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


@lru_cache(maxsize=256)
def decrypt_secret(secret_key: str, ciphertext: str) -> str:
    """Cached: every signed bank request needs it, and a rotated secret has a new ciphertext."""
    return _fernet(secret_key).decrypt(ciphertext.encode()).decode()


@dataclass(frozen=True, kw_only=True)
class Issued:
    id: str
    credential: str


def create_regulator(session: Session, *, name: str, region_code: str, now: datetime) -> Issued:
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    token = new_token("tgr")
    reg = Regulator(
        id=new_id("reg"),
        name=name,
        region_code=region_code,
        token_hash=token_hash(token),
        created_at=now,
    )
    session.add(reg)
    session.flush()
    return Issued(id=reg.id, credential=token)


def create_bank(
    session: Session,
    *,
    name: str,
    code: str,
    instruction_url: str | None,
    secret_key: str,
    now: datetime,
    secret: str | None = None,
    bank_id: str | None = None,
) -> Issued:
    if session.scalar(select(Bank).where(Bank.code == code)) is not None:
        raise DomainError("duplicate_bank_code", f"a bank with code {code!r} exists")
    secret = secret or secrets.token_hex(32)
    bank = Bank(
        id=bank_id or new_id("bank"),
        name=name,
        code=code,
        secret_ciphertext=encrypt_secret(secret_key, secret),
        instruction_url=instruction_url,
        created_at=now,
    )
    session.add(bank)
    session.flush()
    return Issued(id=bank.id, credential=secret)


MAX_OVERLAP = timedelta(days=7)


@dataclass(frozen=True, kw_only=True)
class Rotated:
    bank_id: str
    secret: str  # the new one, shown once
    previous_valid_until: datetime


def rotate_bank_secret(
    session: Session, *, bank_id: str, secret_key: str, overlap: timedelta, now: datetime
) -> Rotated:
    """A new secret for the bank; the one it replaces stays valid on the bank's requests for
    `overlap` (at most a week), so the bank can switch its signing without refused requests.
    A secret older than that is dropped at once: only one previous secret is ever valid."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise DomainError("invalid_overlap", "the overlap must be between 0 and 7 days")
    bank = session.get(Bank, bank_id, with_for_update=True, populate_existing=True)
    if bank is None:
        raise DomainError("not_found", f"no bank {bank_id}")
    secret = secrets.token_hex(32)
    bank.previous_secret_ciphertext = bank.secret_ciphertext
    bank.previous_secret_until = now + overlap
    bank.secret_ciphertext = encrypt_secret(secret_key, secret)
    session.flush()
    return Rotated(bank_id=bank.id, secret=secret, previous_valid_until=now + overlap)


def regulator_by_token(session: Session, token: str) -> Regulator | None:
    return session.scalar(select(Regulator).where(Regulator.token_hash == token_hash(token)))
