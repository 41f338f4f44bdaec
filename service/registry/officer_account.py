"""An officer's own account: signing out everywhere, a new password, enrolling an
authenticator (a QR code of a new TOTP secret, which takes effect once one code of it is
given) and the recovery codes that come with it. Each is the officer's own act, whatever
their role, and on the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import InvalidToken
from sqlalchemy import delete
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.qr import qr_svg
from service.registry import officers, recovery_codes, throttle
from service.registry.credentials import decrypt_secret, encrypt_secret
from service.registry.institutions import audit
from service.registry.models import Officer, OfficerSession

# A wrong current password is counted per officer (whoever holds a session could guess it
# otherwise): the sign-in's free tries, then waits that double.
PASSWORD_WINDOW = timedelta(days=1)


def _audited(session: Session, officer: Officer, action: str, now: datetime) -> None:
    office = officers.office(session, officer)
    audit(session, actor=f"regulator:{office.id}", action=f"officer:{action}",
          subject=officer.id, detail={}, now=now, region_code=office.region_code,
          officer_id=officer.id)  # fmt: skip


def end_sessions(session: Session, *, officer: Officer, now: datetime) -> datetime:
    """Sign out everywhere: every session of the officer, API and workbench, ends now
    (`officers.credential_hash` names the instant; a second call in the same instant still
    moves it). API tokens are not sessions: they stay until revoked or expired."""
    ended = now
    if officer.sessions_ended_at is not None and officer.sessions_ended_at >= now:
        ended = officer.sessions_ended_at + timedelta(microseconds=1)
    officer.sessions_ended_at = ended
    session.execute(delete(OfficerSession).where(OfficerSession.officer_id == officer.id))
    _audited(session, officer, "sign_out_everywhere", now)
    session.flush()
    return ended


def change_password(
    session: Session, *, officer: Officer, current: str, new: str, now: datetime
) -> bool:
    """A new password for the officer, given the current one: every session opened before
    ends (a new hash). False for a wrong current password: counted, so the caller commits and
    answers 403 `wrong_password`; past the free tries 429. A weak new password is 422
    `weak_password` and nothing changes."""
    tries = throttle.counter(session, f"officer-password:{officer.id}", now, PASSWORD_WINDOW)
    throttle.refuse_if_locked([tries], now, "password changes")
    try:
        officers.HASHER.verify(officer.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        tries.failures += 1
        over = tries.failures - officers.FREE_FAILURES
        if over >= 0:
            tries.locked_until = now + min(officers.BACKOFF_BASE * 2**over, officers.BACKOFF_MAX)
        session.flush()
        return False
    officers.check_password(new, officer.username)
    if new == current:
        raise DomainError("weak_password", "the new password is the current one")
    officer.password_hash = officers.HASHER.hash(new)
    officer.password_changed_at = now
    if tries in session.new:  # right at the first try: nothing to keep
        session.expunge(tries)
    else:
        session.delete(tries)
    session.execute(delete(OfficerSession).where(OfficerSession.officer_id == officer.id))
    _audited(session, officer, "password_change", now)
    session.flush()
    return True


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str  # the link as a QR code, drawn on the server


def start_totp(
    session: Session, *, officer: Officer, secret_key: str, issuer: str = "TuitionGuard"
) -> Enrolment:
    """A new TOTP secret for the officer's authenticator, pending: the current one keeps
    working until a code of the new one is given (`confirm_totp`)."""
    secret = pyotp.random_base32()
    officer.totp_pending_ciphertext = encrypt_secret(secret_key, secret)
    session.flush()
    uri = officers.otpauth_uri(officer.username, secret, issuer)
    return Enrolment(secret, uri, qr_svg(uri, title=issuer).decode())


def _pending_secret(officer: Officer, secret_key: str) -> str | None:
    """The enrolment's new secret; none pending, or one stored under another server key (the
    SECRET_KEY changed since: start again), is None."""
    if officer.totp_pending_ciphertext is None:
        return None
    try:
        return decrypt_secret(secret_key, officer.totp_pending_ciphertext)
    except InvalidToken:
        return None


def pending(officer: Officer, *, secret_key: str, issuer: str = "TuitionGuard") -> Enrolment | None:
    """The enrolment started and not yet confirmed, to show its QR code again."""
    secret = _pending_secret(officer, secret_key)
    if secret is None:
        return None
    uri = officers.otpauth_uri(officer.username, secret, issuer)
    return Enrolment(secret, uri, qr_svg(uri, title=issuer).decode())


def confirm_totp(
    session: Session, *, officer: Officer, code: str, secret_key: str, now: datetime
) -> list[str]:
    """The pending secret becomes the officer's, given one valid code of it (the previous,
    current or next step); a new set of recovery codes is answered, shown once. A wrong code
    is 422 `invalid_totp` and nothing changes; none pending is 409 `no_enrolment`."""
    secret = _pending_secret(officer, secret_key)
    if secret is None:
        raise DomainError("no_enrolment", "start an enrolment first: POST /officer-totp")
    totp = pyotp.TOTP(secret)
    code, current = code.strip(), int(now.timestamp()) // officers.TOTP_STEP
    steps = [
        s for s in (current - 1, current, current + 1) if totp.at(s * officers.TOTP_STEP) == code
    ]
    if not (len(code) == 6 and code.isdigit()) or not steps:
        raise DomainError("invalid_totp", "that code is not the new authenticator's")
    officer.totp_secret_ciphertext = encrypt_secret(secret_key, secret)
    officer.totp_pending_ciphertext = None
    officer.totp_last_step = steps[-1]  # this code is used: good once, as at sign-in
    codes = recovery_codes.renew(session, officer_id=officer.id, secret_key=secret_key, now=now)
    _audited(session, officer, "totp_enrol", now)
    return codes
