"""Officers: the people of an office (a regulator). Each has a role; what a role may do is the
one table `PERMISSIONS` (docs/security.md "Officers and roles" repeats it). An officer signs in
with a username, a password (Argon2id) and a TOTP code (RFC 6238); failures are throttled per
client, per client and account, and per account, in the parent's shape: the right password with
the right code is admitted whatever the limits say, so that nobody without the password can
lock an officer out. Officers are disabled, never deleted: the audit log keeps naming them."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.choices import choose
from service.kit.ids import new_id, new_token, token_hash
from service.registry import officer_tokens, recovery_codes, throttle
from service.registry.credentials import decrypt_secret, encrypt_secret
from service.registry.institutions import ACTING_OFFICER, audit
from service.registry.models import (
    LoginThrottle,
    Officer,
    OfficerRecoveryCode,
    OfficerSession,
    Regulator,
)

log = logging.getLogger("tuitionguard.security")


class Role(StrEnum):
    VIEWER = "viewer"
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"  # every page and GET of the office's region
    ACT = "act"  # every write: cases, decisions, requests, exports' audit
    APPROVE = "approve"  # decide another officer's four-eyes request
    MANAGE_OFFICERS = "manage_officers"  # create and disable the office's officers


# The one table of what each role may do (docs/security.md "Officers and roles").
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.OFFICER: frozenset({Permission.READ, Permission.ACT}),
    Role.SUPERVISOR: frozenset({Permission.READ, Permission.ACT, Permission.APPROVE}),
    Role.ADMIN: frozenset(
        {Permission.READ, Permission.ACT, Permission.APPROVE, Permission.MANAGE_OFFICERS}
    ),
}

SESSION_HOURS = 10  # a working day, as the workbench's
MIN_PASSWORD = 12
# Argon2id at OWASP's first recommended setting, m=19 MiB, t=2, p=1 (docs/security.md, figures
# in docs/benchmarks.md "Officer sign-in"): RFC 9106's t=3, m=64 MiB, p=4 took a second and more
# a verification on this service's two shared cores, where four lanes have no cores to run on,
# and every failed sign-in would cost that much. Hashes made before keep their own parameters
# (the hash names them) and still verify.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Passwords people choose first that the public lists (below) miss: pinyin and this service's.
OUR_COMMON_PASSWORDS = frozenset(
    {
        "123456789012", "password1234", "passwordpassword", "qwertyuiopas",
        "111111111111", "000000000000", "123123123123", "abc123abc123",
        "iloveyou1234", "admin1234567", "administrator", "welcome12345",
        "qwerty123456", "1q2w3e4r5t6y", "password123!", "woaini131452",
        "woaini520520", "aaaaaaaaaaaa", "123456123456", "zxcvbnm12345",
        "letmein12345", "changeme1234", "tuitionguard", "p@ssw0rd1234",
    }
)  # fmt: skip
TOTP_STEP = 30
# Throttle (the parent's shape, service.flows.parents): free tries, then doubling waits.
FREE_FAILURES = 5
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_MAX = timedelta(minutes=15)
CLIENT_MAX_FAILURES = 50
CLIENT_WINDOW = timedelta(minutes=15)
PAIR_WINDOW = timedelta(days=1)
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


def may(role: str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(role: str | None, permission: Permission) -> None:
    """The office's own token (`role` None) is an officer for this table: it may act but never
    approve nor manage officers (docs/api.md "Officers and approvals")."""
    if not may(role or Role.OFFICER, permission):
        raise DomainError(
            "role_forbidden", f"the role {role or 'office token'} may not {permission}"
        )


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of the leaks zxcvbn's authors counted (shipped with
    the zxcvbn package, read once), and ours."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | OUR_COMMON_PASSWORDS


_DECORATION = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def is_common(password: str) -> bool:
    """One of the common passwords, as typed or under the digits and signs people add around
    one to pass a length rule ("password2024!", "!!iloveyou123"), or one character over."""
    folded = password.casefold()
    core = _DECORATION.sub("", folded)
    known = common_passwords()
    return folded in known or (len(core) >= 4 and core in known) or len(set(folded)) <= 2


def check_password(password: str, username: str = "") -> None:
    """A minimum length, not one of the common passwords (`is_common`), nor holding the
    username."""
    if len(password) < MIN_PASSWORD:
        raise DomainError("weak_password", f"a password has at least {MIN_PASSWORD} characters")
    folded = password.casefold()
    if is_common(password) or (username and username.casefold() in folded):
        raise DomainError("weak_password", "this password is too common or holds the username")


@dataclass(frozen=True)
class Created:
    officer_id: str
    username: str
    password: str
    totp_secret: str

    def as_dict(self) -> dict[str, str]:
        return {
            "officer_id": self.officer_id,
            "username": self.username,
            "password": self.password,
            "totp_secret": self.totp_secret,
        }


def _username(session: Session, name: str, region_code: str) -> str:
    """From an ASCII name where it makes one, else from the region; a short random tail keeps
    it unique and says nothing of the person."""
    base = re.sub(r"[^a-z0-9]+", ".", name.casefold()).strip(".")[:40] or f"r{region_code}"
    while True:
        candidate = f"{base}.{secrets.token_hex(2)}"
        if session.scalar(select(Officer.id).where(Officer.username == candidate)) is None:
            return candidate


def create_officer(
    session: Session,
    *,
    regulator: Regulator,
    name: str,
    role: str,
    now: datetime,
    secret_key: str,
    actor: str,
    username: str | None = None,
    password: str | None = None,
    totp_secret: str | None = None,
) -> Created:
    """A new officer of the office, with a generated password and TOTP secret unless given
    (the demo gives fixed ones); both are shown once, by whoever created them."""
    checked_role = choose(Role, role, field="role")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise DomainError("validation_error", "an officer's name has 1 to 200 characters")
    username = (username or _username(session, name, regulator.region_code)).casefold()
    if not USERNAME.match(username):
        raise DomainError("validation_error", "a username is 3 to 64 of a-z 0-9 . _ -")
    if session.scalar(select(Officer.id).where(Officer.username == username)) is not None:
        raise DomainError("duplicate_username", f"the username {username!r} is taken")
    password = password or secrets.token_urlsafe(15)
    check_password(password, username)
    totp_secret = totp_secret or pyotp.random_base32()
    officer = Officer(
        id=new_id("off"),
        regulator_id=regulator.id,
        name=name,
        username=username,
        role=checked_role.value,
        password_hash=HASHER.hash(password),
        totp_secret_ciphertext=encrypt_secret(secret_key, totp_secret),
        created_at=now,
    )
    session.add(officer)
    session.flush()
    audit(session, actor=actor, action="officer:create", subject=officer.id, now=now,
          region_code=regulator.region_code,
          detail={"name": name, "username": username, "role": officer.role})  # fmt: skip
    return Created(officer.id, username, password, totp_secret)


def in_office(session: Session, regulator: Regulator, officer_id: str) -> Officer:
    officer = session.get(Officer, officer_id)
    if officer is None or officer.regulator_id != regulator.id:
        raise DomainError("not_found", f"no officer {officer_id}")
    return officer


def disable(
    session: Session, *, regulator: Regulator, officer_id: str, actor: str, now: datetime
) -> Officer:
    """Disabled at once: every session and token of the officer ends with this transaction."""
    officer = in_office(session, regulator, officer_id)
    if officer.disabled_at is None:
        officer.disabled_at = now
        session.execute(delete(OfficerSession).where(OfficerSession.officer_id == officer.id))
        audit(session, actor=actor, action="officer:disable", subject=officer.id, now=now,
              region_code=regulator.region_code, detail={"name": officer.name})  # fmt: skip
    session.flush()
    return officer


def set_role(
    session: Session, *, regulator: Regulator, officer_id: str, role: str, actor: str,
    now: datetime, by: str | None = None,
) -> Officer:  # fmt: skip
    """The officer's new role, from their next request on (a session reads the role each
    time). `by`: the admin acting, who may not change their own role (nor lock the office out
    of its last admin that way). Audited with the role before and after."""
    checked = choose(Role, role, field="role")
    officer = in_office(session, regulator, officer_id)
    if officer.id == by:
        raise DomainError("invalid_state", "an admin does not change their own role")
    if officer.disabled_at is not None:
        raise DomainError("invalid_state", "a disabled officer has no role to change")
    before = officer.role
    if before != checked.value:
        officer.role = checked.value
        audit(session, actor=actor, action="officer:roles", subject=officer.id, now=now,
              region_code=regulator.region_code,
              detail={"name": officer.name, "before": before, "after": officer.role})  # fmt: skip
    session.flush()
    return officer


def of_office(session: Session, regulator: Regulator) -> list[Officer]:
    return list(
        session.scalars(
            select(Officer).where(Officer.regulator_id == regulator.id).order_by(Officer.username)
        )
    )


def stale_demo_credentials(
    officer: Officer, password: str, totp_secret: str, secret_key: str
) -> bool:
    """Whether the officer's stored password or TOTP secret differ from these (the demo
    derives them from the secret key, which may have changed since the database was seeded)."""
    try:
        HASHER.verify(officer.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return True
    try:
        return decrypt_secret(secret_key, officer.totp_secret_ciphertext) != totp_secret
    except InvalidToken:
        return True


def reset_credentials(officer: Officer, password: str, totp_secret: str, secret_key: str) -> None:
    """A new password and TOTP secret: every session opened with the old password ends."""
    check_password(password, officer.username)
    officer.password_hash = HASHER.hash(password)
    officer.totp_secret_ciphertext = encrypt_secret(secret_key, totp_secret)
    officer.totp_last_step = None


@dataclass(frozen=True)
class SecondFactor:
    officer_id: str
    username: str
    totp_secret: str  # shown once, to the admin who reset it

    def as_dict(self) -> dict[str, str]:
        link = otpauth_uri(self.username, self.totp_secret)
        return {"officer_id": self.officer_id, "username": self.username,
                "totp_secret": self.totp_secret, "otpauth_uri": link}  # fmt: skip


def reset_second_factor(
    session: Session, *, regulator: Regulator, officer_id: str, actor: str, now: datetime,
    secret_key: str, by: str | None = None,
) -> SecondFactor:  # fmt: skip
    """A new TOTP secret for an officer of the office, chosen by its admin (`by`, never for
    themselves: their own is enrolled on their account page) when the officer's phone is lost
    or the stored secret no longer opens under the server's key: the pending enrolment and the
    recovery codes go, every session of the officer ends, and the new secret is shown once to
    hand over in person. Audited."""
    officer = in_office(session, regulator, officer_id)
    if officer.id == by:
        raise DomainError("invalid_state", "an admin sets up their own authenticator on their "
                          "account page")  # fmt: skip
    if officer.disabled_at is not None:
        raise DomainError("invalid_state", "a disabled officer signs in no more")
    secret = pyotp.random_base32()
    officer.totp_secret_ciphertext = encrypt_secret(secret_key, secret)
    officer.totp_pending_ciphertext = None
    officer.totp_last_step = None
    ended = officer.sessions_ended_at
    officer.sessions_ended_at = ended + timedelta(microseconds=1) if ended and ended >= now else now
    session.execute(delete(OfficerSession).where(OfficerSession.officer_id == officer.id))
    session.execute(delete(OfficerRecoveryCode).where(OfficerRecoveryCode.officer_id == officer.id))
    audit(session, actor=actor, action="officer:totp_reset", subject=officer.id, now=now,
          region_code=regulator.region_code, detail={"name": officer.name})  # fmt: skip
    session.flush()
    return SecondFactor(officer.id, officer.username, secret)


def otpauth_uri(officer_username: str, totp_secret: str, issuer: str = "TuitionGuard") -> str:
    return pyotp.TOTP(totp_secret).provisioning_uri(name=officer_username, issuer_name=issuer)


def credential_hash(officer: Officer) -> str:
    """What a session remembers of the password it was opened with and of the officer's last
    "sign out everywhere": a new password (a new Argon2 hash, salted afresh) or signing out
    everywhere ends every session opened before, API and workbench alike."""
    raw = officer.password_hash
    if officer.sessions_ended_at is not None:
        raw += "|" + officer.sessions_ended_at.isoformat()
    return hashlib.sha256(raw.encode()).hexdigest()


def live(officer: Officer | None, remembered: str) -> bool:
    return (
        officer is not None
        and officer.disabled_at is None
        and hmac.compare_digest(credential_hash(officer), remembered)
    )


def totp_secret_of(officer: Officer, secret_key: str) -> str:
    """The officer's TOTP secret. One the server's key no longer opens (SECRET_KEY changed
    since it was stored) is 409 `second_factor_reset_required`: no code can be checked until
    an admin of the office resets the second factor (`reset_second_factor`)."""
    try:
        return decrypt_secret(secret_key, officer.totp_secret_ciphertext)
    except InvalidToken:
        log.warning("officer %s: the TOTP secret does not open with this SECRET_KEY", officer.id)
        raise DomainError(
            "second_factor_reset_required",
            "the authenticator's secret was stored under another server key: an admin of the "
            "office resets this officer's second factor",
        ) from None


def _totp_step(officer: Officer, code: str, secret_key: str, now: datetime) -> int | None:
    """The time step whose code this is, among the previous, the current and the next one
    (a clock a step off either way), and newer than the last one accepted (no replay)."""
    code = code.strip()
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(totp_secret_of(officer, secret_key))
    current = int(now.timestamp()) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step if officer.totp_last_step is None or step > officer.totp_last_step else None
    return None


def _count_failure(rows: list[LoginThrottle], client: LoginThrottle, now: datetime) -> None:
    """Backoff per (client, account) and per account: free tries, then waits that double to a
    cap; and a cap on a client's failures over all accounts in its window."""
    for row in rows:
        row.failures += 1
        over = row.failures - FREE_FAILURES
        if over >= 0:
            row.locked_until = now + min(BACKOFF_BASE * 2**over, BACKOFF_MAX)
    client.failures += 1
    if client.failures >= CLIENT_MAX_FAILURES:
        client.locked_until = client.window_start + CLIENT_WINDOW


@dataclass(frozen=True)
class Opened:
    token: str
    expires_at: datetime
    officer: Officer
    regulator: Regulator


def sign_in(
    session: Session,
    *,
    username: str,
    password: str,
    totp: str,
    client: str,
    now: datetime,
    secret_key: str,
) -> Opened | None:
    """A bearer token for a working day (`POST /officer-sessions`), or None as `authenticate`
    says."""
    officer = authenticate(session, username=username, password=password, totp=totp,
                           client=client, now=now, secret_key=secret_key)  # fmt: skip
    return _open(session, officer, now) if officer is not None else None


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    totp: str,
    client: str,
    now: datetime,
    secret_key: str,
) -> Officer | None:
    """The officer whose password and current code these are, or None (the same None whichever
    part was wrong, and for a disabled officer); the failure is counted and audited, so the
    caller commits it and answers 401. A wrong attempt while a limit holds is 429 with how long
    to wait; the right password with a right code is admitted whatever the limits say."""
    username = username.strip().casefold()[:64]
    pair = throttle.counter(session, f"officer-pair:{client}:{username}", now, PAIR_WINDOW)
    account = throttle.counter(session, f"officer-account:{username}", now, PAIR_WINDOW)
    by_client = throttle.counter(session, f"officer-client:{client}", now, CLIENT_WINDOW)
    officer = session.scalar(select(Officer).where(Officer.username == username))
    step = _verified(session, officer, password, totp, secret_key, now)
    if officer is None or step is None or officer.disabled_at is not None:
        throttle.refuse_if_locked([pair, account, by_client], now, "sign-ins")
        _count_failure([pair, account], by_client, now)
        audit(session, actor=f"address:{client[:64]}", action="officer:sign_in_failed",
              subject=username[:80] or "-", detail={"address": client}, now=now)  # fmt: skip
        session.flush()
        return None
    officer.totp_last_step = step
    for row in (pair, account):  # the officer is in: these counts are forgiven
        if row in session.new:
            session.expunge(row)
        else:
            session.delete(row)
    session.flush()
    return officer


def _verified(
    session: Session,
    officer: Officer | None,
    password: str,
    totp: str,
    secret_key: str,
    now: datetime,
) -> int | None:
    """The TOTP step of a right password and code, else None; a right password with one of
    the officer's unused recovery codes instead of a code uses it up (the last step accepted
    stays as it was). An unknown username still costs one Argon2 verification, so timing does
    not tell which usernames exist."""
    try:
        HASHER.verify(officer.password_hash if officer else _DUMMY, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if officer is None:
        return None
    if officer.disabled_at is None:  # the right password: say why no code can be checked
        totp_secret_of(officer, secret_key)
    if recovery_codes.looks_like(totp):
        used = recovery_codes.use(session, officer_id=officer.id, typed=totp,
                                  secret_key=secret_key, now=now)  # fmt: skip
        return (officer.totp_last_step or 0) if used else None
    return _totp_step(officer, totp, secret_key, now)


_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


def office(session: Session, officer: Officer) -> Regulator:
    regulator = session.get(Regulator, officer.regulator_id)
    assert regulator is not None  # a foreign key
    return regulator


def _open(session: Session, officer: Officer, now: datetime) -> Opened:
    regulator = office(session, officer)
    session.execute(delete(OfficerSession).where(OfficerSession.expires_at <= now))
    token = new_token("tgo")
    expires = now + timedelta(hours=SESSION_HOURS)
    session.add(
        OfficerSession(
            token_hash=token_hash(token),
            officer_id=officer.id,
            credential_hash=credential_hash(officer),
            created_at=now,
            expires_at=expires,
        )
    )
    audit(session, actor=f"regulator:{regulator.id}", action="officer:sign_in",
          subject=officer.id, detail={}, now=now, region_code=regulator.region_code,
          officer_id=officer.id)  # fmt: skip
    session.flush()
    return Opened(token, expires, officer, regulator)


# The key of `Session.info` saying what the request's officer proved themselves with: a
# "session" (signed in with the password and a code) or a "token" (an API token, which may not
# manage the officer's credentials: service.api.auth.CredentialOwner).
CREDENTIAL = "officer_credential"


def by_token(session: Session, token: str, now: datetime) -> Officer | None:
    """The officer of a live bearer token: a session's (not expired, the officer not disabled,
    the password not changed nor every session ended since) or an API token's (neither
    revoked nor expired, the officer not disabled)."""
    row = session.get(OfficerSession, token_hash(token))
    if row is not None and row.expires_at > now:
        officer = session.get(Officer, row.officer_id)
        session.info[CREDENTIAL] = "session"
        return officer if live(officer, row.credential_hash) else None
    holder = officer_tokens.holder(session, token, now)
    officer = session.get(Officer, holder) if holder is not None else None
    if officer is None or officer.disabled_at is not None:
        return None
    session.info[CREDENTIAL] = "token"
    return officer


def acting(session: Session, officer: Officer | None) -> None:
    """The officer this request acts as: every audit record the request writes names them
    (service.registry.institutions.audit reads it from the session)."""
    if officer is None:
        session.info.pop(ACTING_OFFICER, None)
    else:
        session.info[ACTING_OFFICER] = officer.id
