"""An officer's recovery codes: a few single-use codes, shown once when the authenticator is
enrolled, each standing in for one TOTP code at sign-in when the phone is lost. Kept as keyed
hashes (ten symbols of 32 are 50 bits: the server key keeps a stolen table from being
brute-forced offline, as for a parent's access code)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.kit.ids import ACCESS_ALPHABET, keyed_hash, new_id
from service.registry.models import OfficerRecoveryCode

COUNT = 8
LENGTH = 10


def normal(typed: str) -> str:
    return "".join(typed.split()).replace("-", "").upper()


def looks_like(typed: str) -> bool:
    """A recovery code, not a TOTP code (those are six digits)."""
    code = normal(typed)
    return len(code) == LENGTH and all(c in ACCESS_ALPHABET for c in code)


def _hash(secret_key: str, code: str) -> str:
    return keyed_hash(secret_key, "recovery:" + normal(code))


def renew(session: Session, *, officer_id: str, secret_key: str, now: datetime) -> list[str]:
    """A new set of codes (shown once, as `XXXXX-XXXXX`); the earlier ones stop working."""
    session.execute(delete(OfficerRecoveryCode).where(OfficerRecoveryCode.officer_id == officer_id))
    codes = ["".join(secrets.choice(ACCESS_ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    for code in codes:
        row = OfficerRecoveryCode(
            id=new_id("orc"), officer_id=officer_id, code_hash=_hash(secret_key, code),
            created_at=now,
        )  # fmt: skip
        session.add(row)
    session.flush()
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def use(session: Session, *, officer_id: str, typed: str, secret_key: str, now: datetime) -> bool:
    """Whether `typed` is one of the officer's unused codes; if so it is used up."""
    if not looks_like(typed):
        return False
    row = session.scalar(
        select(OfficerRecoveryCode)
        .where(OfficerRecoveryCode.officer_id == officer_id,
               OfficerRecoveryCode.code_hash == _hash(secret_key, typed),
               OfficerRecoveryCode.used_at.is_(None))
        .with_for_update()
    )  # fmt: skip
    if row is None:
        return False
    row.used_at = now
    return True


def left(session: Session, officer_id: str) -> int:
    rows = session.scalars(
        select(OfficerRecoveryCode.id).where(
            OfficerRecoveryCode.officer_id == officer_id, OfficerRecoveryCode.used_at.is_(None)
        )
    )
    return len(list(rows))
