"""The ledger's daily anchor in the public log (docs/proofs.md §4): every account's chain head
at the end of a Beijing day, digested, appended to the log by the day's publication
(`service.proofs.daily`) and so signed by the log's Ed25519 key and cosigned by witnesses —
anyone can check it, where the HMAC anchor it replaces could be checked only by whoever holds
the service's secret. A rewritten history then shows even if every row of the database was
recomputed consistently: the heads recomputed from the database no longer digest to the
logged figure.

The CLI (`ledger anchor`, `ledger verify --anchor`) reads and writes the files; what an anchor
holds and when it is to be trusted is here, for any caller."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

import ledger
from service.config import Settings
from service.proofs.daily import day_end
from service.proofs.models import LogEntry
from service.proofs.serving import logged
from tgproof import note
from tgproof.errors import ProofError
from tgproof.proof import verify_log_entry


class UntrustedAnchor(Exception):
    """A logged anchor that cannot be read, or whose inclusion, signature or cosignatures do
    not hold against the keys: nothing may be concluded from it."""


def logged_anchor(session: Session, settings: Settings, day: date | None) -> dict[str, Any]:
    """`{index, entry, inclusion, checkpoint}` of the anchor of `day` (the latest logged when
    none is named): what `ledger verify --anchor` and `proof entry` check."""
    stmt = select(LogEntry.idx).where(LogEntry.kind == "ledger_anchor")
    stmt = (stmt.where(LogEntry.day == day.isoformat()) if day
            else stmt.order_by(LogEntry.idx.desc()).limit(1))  # fmt: skip
    index = session.scalar(stmt)
    if index is None:
        raise LookupError("no ledger anchor logged for that day")
    return logged(session, settings, index)


def trusted_entry(document: Any, keys: note.Keys) -> dict[str, Any]:
    """The anchor entry of a logged-anchor document, once its inclusion in a checkpoint the
    log signed and a quorum of witnesses cosigned holds; `UntrustedAnchor` saying why not."""
    try:
        entry, _, _ = verify_log_entry(document, keys)
    except ProofError as exc:
        raise UntrustedAnchor(str(exc)) from exc
    if entry.get("kind") != "ledger_anchor":
        raise UntrustedAnchor(f"the logged entry is a {entry.get('kind')!r}, not a ledger_anchor")
    try:
        date.fromisoformat(str(entry["date"]))
        bytes.fromhex(str(entry["digest"]))
        int(entry["accounts"])
    except (KeyError, ValueError, TypeError) as exc:
        raise UntrustedAnchor(f"not a ledger anchor entry: {exc}") from exc
    return entry


def verify(conn: Connection, *, anchor: dict[str, Any] | None) -> ledger.VerifyReport:
    """The whole ledger checked, and with a trusted anchor entry, that the chain heads at the
    end of its day, recomputed from the database, still digest to the logged figure."""
    report = ledger.verify(conn)
    if anchor is None:
        return report
    day = date.fromisoformat(str(anchor["date"]))
    heads = ledger.chain_heads_at_day_end(conn, day_end=day_end(day))
    logged = int(anchor["accounts"])
    if len(heads) != logged:
        why = f"{len(heads)} accounts at the end of {day}, the log says {logged}"
        report.fail("anchor_differs", "ledger", why)
    elif ledger.anchor_digest(heads) != str(anchor["digest"]):
        why = f"the chain heads at the end of {day} do not digest to the logged anchor"
        report.fail("anchor_differs", "ledger", why)
    return report
