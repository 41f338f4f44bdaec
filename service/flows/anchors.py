"""Ledger anchors: every chain head written down at an instant, digested and signed with the
service's key, to be kept outside the database (sent to the regulator, say) and checked
against it later. A rewritten history then shows even if every row of the database was
recomputed consistently, because the heads kept elsewhere no longer match.

The CLI (`ledger anchor`, `ledger verify --anchor`) reads and writes the files; what an anchor
holds, how it is signed and when it is to be trusted is here, for any caller (the proofs the
regulator is given build on it)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

import ledger

Heads = dict[str, tuple[int, str]]


class UntrustedAnchor(Exception):
    """An anchor that cannot be read, or whose digest or signature does not hold: nothing may
    be concluded from it."""


@dataclass(frozen=True, kw_only=True)
class Anchor:
    at: datetime
    digest: str
    signature: str
    heads: Heads

    def document(self) -> dict[str, Any]:
        """As it is written to a file: heads in account order."""
        return {
            "at": self.at.isoformat(),
            "digest": self.digest,
            "signature": self.signature,
            "heads": {a: [seq, link] for a, (seq, link) in sorted(self.heads.items())},
        }


def signature(digest: str, *, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), digest.encode(), hashlib.sha256).hexdigest()


def take(conn: Connection, *, secret_key: str, now: datetime) -> Anchor:
    """Every chain head now, digested and signed."""
    heads = ledger.chain_heads(conn)
    digest = ledger.anchor_digest(heads)
    return Anchor(
        at=now, digest=digest, signature=signature(digest, secret_key=secret_key), heads=heads
    )


def trusted_heads(document: Any, *, secret_key: str) -> Heads:
    """The heads of an anchor document, once its digest and this service's signature hold;
    `UntrustedAnchor` saying why not otherwise."""
    try:
        heads = {a: (int(seq), str(link)) for a, (seq, link) in document["heads"].items()}
        digest, signed = str(document["digest"]), str(document["signature"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UntrustedAnchor(f"not an anchor: {exc}") from exc
    if ledger.anchor_digest(heads) != digest:
        raise UntrustedAnchor("the anchor's heads do not match its digest")
    if not hmac.compare_digest(signature(digest, secret_key=secret_key), signed):
        raise UntrustedAnchor("the anchor's signature is not this service's")
    return heads


def verify(
    conn: Connection, *, anchor: Mapping[str, tuple[int, str]] | None
) -> ledger.VerifyReport:
    """The whole ledger checked, and against the anchor's heads if one is given."""
    return ledger.verify(conn, anchor=anchor)
