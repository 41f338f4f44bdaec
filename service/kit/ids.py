"""Opaque identifiers and secrets, and how secrets are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ledger import ids as ledger_ids


def new_id(prefix: str) -> str:
    """A new row's id: time first, then random bits (ledger.ids: why)."""
    return ledger_ids.new_id(prefix)


def new_token(prefix: str) -> str:
    """A bearer credential: 256 random bits, shown once, stored only as `token_hash`."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """High-entropy tokens need no salt: a plain SHA-256 is a safe lookup key."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_hash(secret_key: str, value: str) -> str:
    """Short secrets (a parent's access code) are hashed with the server key, so a stolen
    table cannot be brute-forced offline."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_access_code() -> str:
    return "".join(secrets.choice("23456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(10))


def new_payment_reference() -> str:
    return "TG" + "".join(secrets.choice("0123456789") for _ in range(16))
