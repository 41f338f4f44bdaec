"""Registry tables: who exists, where, and with what credentials."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger.types import UTCDateTime
from service.kit.db import Base


class InstitutionStatus(StrEnum):
    """Where an institution stands: only an active one collects fees and is paid releases."""

    ACTIVE = "active"
    FROZEN = "frozen"
    BLACKLISTED = "blacklisted"
    CLOSED = "closed"
    # Being wound up (service/flows/winddowns.py): no fees, no releases, claims paid in rounds.
    WINDING_DOWN = "winding_down"


FINAL_STATUSES = (InstitutionStatus.CLOSED, InstitutionStatus.BLACKLISTED)


class Region(Base):
    """A GB/T 2260 administrative division; retired codes stay valid via `superseded_by`."""

    __tablename__ = "regions"
    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    superseded_by: Mapped[str | None] = mapped_column(String(6), nullable=True)


class Regulator(Base):
    __tablename__ = "regulators"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Failed sign-ins per client address, and per client and enrollment (a parent's access
    code) or officer (service.registry.officers)."""

    __tablename__ = "login_throttles"
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Officer(Base):
    """A person of an office (a regulator), with a role (service.registry.officers.PERMISSIONS).
    Disabled, never deleted: the audit log keeps naming them."""

    __tablename__ = "officers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    regulator_id: Mapped[str] = mapped_column(ForeignKey("regulators.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | officer | supervisor | admin
    password_hash: Mapped[str] = mapped_column(Text)  # Argon2id, with its parameters
    totp_secret_ciphertext: Mapped[str] = mapped_column(Text)  # encrypted: we must use it
    # The last TOTP time step accepted: a code is good once (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # "Sign out everywhere": every session (API or workbench) opened before this instant ends.
    sessions_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A TOTP secret being enrolled: it replaces the current one once a code of it is given.
    totp_pending_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)


class OfficerSession(Base):
    """An officer's bearer token (`POST /officer-sessions`), kept as a hash, for a working day;
    it names the password it was opened with, so a password change ends it."""

    __tablename__ = "officer_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), index=True)
    credential_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OfficerToken(Base):
    """A named API token of one officer, for a script run in their name: it expires, is
    listed and revoked, kept as a hash and shown once (service.registry.officer_tokens)."""

    __tablename__ = "officer_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OfficerRecoveryCode(Base):
    """One of the officer's single-use codes for a lost authenticator, kept keyed-hashed."""

    __tablename__ = "officer_recovery_codes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    officer_id: Mapped[str] = mapped_column(ForeignKey("officers.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Bank(Base):
    """A custody bank. Its HMAC secret is kept encrypted: we need it to verify and to sign."""

    __tablename__ = "banks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    # The secret a rotation replaced, still accepted on the bank's requests until the instant
    # after it, so a bank can switch its signing without a window of refused deposits.
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    instruction_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Institution(Base):
    __tablename__ = "institutions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    category: Mapped[str] = mapped_column(String(16))  # subject | non_subject
    supervision_mode: Mapped[str] = mapped_column(String(16))  # custody | reserve
    bank_id: Mapped[str] = mapped_column(ForeignKey("banks.id"))
    escrow_account_no: Mapped[str] = mapped_column(String(64), unique=True)
    operating_account_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reserve_account_no: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # InstitutionStatus
    legal_person: Mapped[str | None] = mapped_column(String(100), nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    # The organisation that runs it (举办者): the campuses of one chain share it. Optional.
    sponsor: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    # The first key's hash, as issued at registration; `institution_keys` decides which keys
    # work (the migration copied this one there), this column is not read.
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A planned closure (a month's notice, then every unconsumed fee refunded): the Beijing day
    # it takes effect, and when it was first announced. From the notice on, the institution
    # collects no new fees, and its wind-down is judged against the plan.
    closing_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    closure_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InstitutionKey(Base):
    """One of an institution's named API keys (service.registry.institution_keys): several may
    be live at once, so a key is rotated by issuing the next before the last is revoked. Kept
    as a hash, shown once."""

    __tablename__ = "institution_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Set by a rotation: the replaced key keeps working until then (None: until revoked).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class InstitutionChange(Base):
    """History of registry fields (legal person, address, status): a risk signal and an
    audit trail."""

    __tablename__ = "institution_changes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    new_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_institution_changes_at", InstitutionChange.institution_id, InstitutionChange.at)


class AuditEvent(Base):
    """Who did what to whom, for every regulator action that changes state."""

    __tablename__ = "audit_events"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(80), index=True)
    detail: Mapped[Any] = mapped_column(JSON)  # why, and the state before and after
    # Whose business it was: the region (to scope who may read it) and the institution.
    region_code: Mapped[str | None] = mapped_column(String(6), nullable=True, index=True)
    institution_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    # The person who acted, where an officer signed in acted for the office (`actor`).
    officer_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)


class Approval(Base):
    """A four-eyes request (service.policy.approvals): an action that a region's rule pack
    says two people decide, asked by one and waiting for a supervisor of the same office or of
    an office above to approve or reject it. `payload` is everything the action needs to run
    as if asked at the moment it is approved; `result` what running it gave."""

    __tablename__ = "approvals"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(80))
    payload: Mapped[Any] = mapped_column(JSON)
    # Whose business it is: the region of what it acts on (who may see it), and the office
    # that asked (who may decide it: that office or one above).
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    office_id: Mapped[str] = mapped_column(ForeignKey("regulators.id"), index=True)
    office_region_code: Mapped[str] = mapped_column(String(6))
    # The officer who asked; None where the office's own token did.
    requested_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | rejected | expired
    decided_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)


Index("ix_approvals_status_expires_at", Approval.status, Approval.expires_at)
