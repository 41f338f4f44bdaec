"""Opaque identifiers and secrets, and how secrets are stored."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from ledger import ids as ledger_ids


def new_id(prefix: str) -> str:
    """A new row's id: time first, then random bits (ledger.ids: why)."""
    return ledger_ids.new_id(prefix)


def new_ids(prefix: str, n: int) -> list[str]:
    """`n` new ids, as `new_id` makes them (the same millisecond), with one draw of random
    bits for all: a bank's batch names a thousand new rows, and each draw is a system call."""
    head = ledger_ids.new_id(prefix)[:-RANDOM_HEX]
    bits = os.urandom(RANDOM_HEX // 2 * n).hex()
    return [head + bits[k : k + RANDOM_HEX] for k in range(0, RANDOM_HEX * n, RANDOM_HEX)]


RANDOM_HEX = 20  # the hex digits of an id's random part (ledger.ids: 80 bits)


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


ACCESS_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols, none mistaken for another
# 16 symbols of 32: 80 bits, beyond online guessing with no lockout at all (docs/security.md
# has the arithmetic). Codes issued before 2026-12-07 have 10 (50 bits) and stay valid.
ACCESS_CODE_LENGTH = 16
LEGACY_ACCESS_CODE_LENGTH = 10


def new_access_code() -> str:
    """A parent's access code, shown in groups of four (`7KQM-3XHN-W2PD-8RTC`)."""
    code = "".join(secrets.choice(ACCESS_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))
    return "-".join(code[i : i + 4] for i in range(0, ACCESS_CODE_LENGTH, 4))


def normal_access_code(typed: str) -> str:
    """The code as it is hashed: the groups' separators and spaces dropped, upper case."""
    return "".join(typed.split()).replace("-", "").upper()


def new_payment_reference() -> str:
    return "TG" + "".join(secrets.choice("0123456789") for _ in range(16))
