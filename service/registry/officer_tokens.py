"""An officer's API tokens: for a script that works in the officer's name, each named, with an
expiry (at most a year), listed and revoked by the officer; kept as a hash and shown once. A
token is the officer's as long as the officer is: disabling the officer stops it at once
(service.registry.officers.by_token). Signing out everywhere and a new password end the
sessions, not the tokens: those are revoked one by one, by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id, new_token, token_hash
from service.registry.institutions import audit
from service.registry.models import Officer, OfficerToken

PREFIX = "tgp"  # a person's token; a session's is "tgo"
MAX_DAYS = 365
DEFAULT_DAYS = 90


@dataclass(frozen=True)
class Issued:
    row: OfficerToken
    token: str  # shown once


def issue(
    session: Session, *, officer: Officer, region_code: str, name: str, days: int, now: datetime
) -> Issued:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError("validation_error", "a token's name has 1 to 100 characters")
    if not 1 <= days <= MAX_DAYS:
        raise DomainError("validation_error", f"a token lasts 1 to {MAX_DAYS} days")
    token = new_token(PREFIX)
    row = OfficerToken(
        id=new_id("otk"), token_hash=token_hash(token), officer_id=officer.id, name=name,
        created_at=now, expires_at=now + timedelta(days=days),
    )  # fmt: skip
    session.add(row)
    session.flush()
    detail: dict[str, object] = {
        "token": row.id,
        "name": name,
        "expires_at": row.expires_at.isoformat(),
    }
    audit(session, actor=f"regulator:{officer.regulator_id}", action="officer:token_issue",
          subject=officer.id, now=now, region_code=region_code, detail=detail)  # fmt: skip
    return Issued(row, token)


def of_officer(session: Session, officer: Officer) -> list[OfficerToken]:
    """The officer's tokens, revoked and expired ones too (what was issued stays listed)."""
    return list(
        session.scalars(
            select(OfficerToken)
            .where(OfficerToken.officer_id == officer.id)
            .order_by(OfficerToken.created_at.desc(), OfficerToken.id)
        )
    )


def revoke(
    session: Session, *, officer: Officer, region_code: str, token_id: str, now: datetime
) -> OfficerToken:
    """The token stops at once. Another officer's token is not found (never revealed)."""
    row = session.get(OfficerToken, token_id, with_for_update=True)
    if row is None or row.officer_id != officer.id:
        raise DomainError("not_found", f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        audit(session, actor=f"regulator:{officer.regulator_id}", action="officer:token_revoke",
              subject=officer.id, now=now, region_code=region_code,
              detail={"token": row.id, "name": row.name})  # fmt: skip
    session.flush()
    return row


def holder(session: Session, token: str, now: datetime) -> str | None:
    """The officer id of a token neither revoked nor expired (whether the officer may still
    act is theirs to say: service.registry.officers.by_token)."""
    row = session.scalar(select(OfficerToken).where(OfficerToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row.officer_id
