"""An institution's API keys: several may be live at once, each named ("front desk", "billing
system"), listed, revoked at once, and rotated without downtime — the next key is issued while
the one it replaces keeps working for an overlap (at most a week) in which the institution
switches its systems over. Kept as SHA-256 hashes, each shown once. The last live key cannot
be revoked: nobody could then sign in as the institution to issue another."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id, new_token, token_hash
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Institution, InstitutionKey, Regulator

PREFIX = "tgi"
MAX_OVERLAP = timedelta(days=7)
DEFAULT_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True)
class Issued:
    row: InstitutionKey
    api_key: str  # shown once


def _live(now: datetime) -> ColumnElement[bool]:
    return and_(
        InstitutionKey.revoked_at.is_(None),
        or_(InstitutionKey.expires_at.is_(None), InstitutionKey.expires_at > now),
    )


def issue(
    session: Session, *, institution: Institution, name: str, now: datetime, actor: str
) -> Issued:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise DomainError("validation_error", "a key's name has 1 to 100 characters")
    api_key = new_token(PREFIX)
    row = InstitutionKey(id=new_id("key"), institution_id=institution.id, name=name,
                         key_hash=token_hash(api_key), created_at=now)  # fmt: skip
    session.add(row)
    session.flush()
    audit(session, actor=actor, action="institution:key_issue", subject=institution.id,
          detail={"key": row.id, "name": name}, now=now, institution=institution)  # fmt: skip
    return Issued(row, api_key)


def of_institution(session: Session, institution: Institution) -> list[InstitutionKey]:
    """Every key the institution was issued, revoked and expired ones too."""
    return list(
        session.scalars(
            select(InstitutionKey)
            .where(InstitutionKey.institution_id == institution.id)
            .order_by(InstitutionKey.created_at.desc(), InstitutionKey.id)
        )
    )


def _own(session: Session, institution: Institution, key_id: str) -> InstitutionKey:
    row = session.get(InstitutionKey, key_id, with_for_update=True)
    if row is None or row.institution_id != institution.id:
        raise DomainError("not_found", f"no key {key_id}")
    return row


def _others_live(session: Session, institution: Institution, key_id: str, now: datetime) -> int:
    found = session.scalars(
        select(InstitutionKey.id).where(
            InstitutionKey.institution_id == institution.id,
            InstitutionKey.id != key_id,
            _live(now),
        )
    )
    return len(list(found))


def revoke(
    session: Session, *, institution: Institution, key_id: str, now: datetime, actor: str
) -> InstitutionKey:
    """The key stops at once (409 `last_key` if no other key is live)."""
    # Every key of the institution locked in one order: two revocations at once cannot each
    # leave the other as the last one and so revoke both.
    session.scalars(
        select(InstitutionKey.id)
        .where(InstitutionKey.institution_id == institution.id)
        .order_by(InstitutionKey.id)
        .with_for_update()
    ).all()
    row = _own(session, institution, key_id)
    if row.revoked_at is not None:
        return row
    if _others_live(session, institution, key_id, now) == 0:
        raise DomainError("last_key", "the institution's only live key: issue the next first")
    row.revoked_at = now
    audit(session, actor=actor, action="institution:key_revoke", subject=institution.id,
          detail={"key": row.id, "name": row.name}, now=now, institution=institution)  # fmt: skip
    session.flush()
    return row


def of_institution_in_scope(
    session: Session, *, regulator: Regulator, institution_id: str
) -> list[InstitutionKey]:
    """A supervised institution's keys, for its regulator (404 outside the region)."""
    return of_institution(session, in_regulator_scope(session, regulator, institution_id))


def revoke_as_regulator(
    session: Session, *, regulator: Regulator, institution_id: str, key_id: str, now: datetime
) -> InstitutionKey:
    """The regulator stops one of a supervised institution's keys at once (a key leaked, a
    system retired): the institution's own revocation, the same rule (409 `last_key`: freeze
    the institution to stop it altogether), audited as the regulator's act, naming the
    officer. Outside the region 404, as every scoped route."""
    inst = in_regulator_scope(session, regulator, institution_id)
    return revoke(session, institution=inst, key_id=key_id, now=now,
                  actor=f"regulator:{regulator.id}")  # fmt: skip


def rotate(
    session: Session,
    *,
    institution: Institution,
    key_id: str,
    overlap: timedelta,
    now: datetime,
    actor: str,
) -> tuple[Issued, InstitutionKey]:
    """The next key under the same name; the one it replaces keeps working for `overlap` (0 to
    7 days), then stops by itself: no request is refused while systems switch over."""
    if not timedelta(0) <= overlap <= MAX_OVERLAP:
        raise DomainError("invalid_overlap", "the overlap must be between 0 and 7 days")
    old = _own(session, institution, key_id)
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise DomainError("invalid_state", "this key no longer works: issue a new one")
    made = issue(session, institution=institution, name=old.name, now=now, actor=actor)
    until = now + overlap
    old.expires_at = until if old.expires_at is None else min(old.expires_at, until)
    session.flush()
    return made, old


def institution_by_key(session: Session, api_key: str, now: datetime) -> Institution | None:
    """The institution of a live key: neither revoked nor past a rotation's overlap. One
    statement (the key joined to its institution): every request of an institution asks it."""
    return session.scalar(
        select(Institution)
        .join(InstitutionKey, InstitutionKey.institution_id == Institution.id)
        .where(InstitutionKey.key_hash == token_hash(api_key), _live(now))
    )
