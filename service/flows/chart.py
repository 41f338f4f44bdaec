"""The chart of accounts for escrow. One ledger per institution (the ledger name is the
institution id), so each institution has its own hash chain and its own writers' queue.

kind          owner        side       limit      holds
escrow_cash   institution  asset      cr<=dr     cash in the supervised account
prepaid       enrollment   liability  dr<=cr     owed to the parent, unconsumed
earned        institution  liability  dr<=cr     earned by lessons, not yet released
suspense      institution  liability  dr<=cr     cash that matches no enrollment
reserve_cash  institution  asset      cr<=dr     cash in the risk-reserve account
reserve       institution  liability  dr<=cr     the reserve, owed back to the institution
receivable    institution  asset      cr<=dr     owed by an institution being wound up: money
                                                 that left escrow with no instruction

(dr<=cr is debits_must_not_exceed_credits; cr<=dr is credits_must_not_exceed_debits.)

Transfer codes: deposit (escrow_cash → prepaid | suspense), consumption (prepaid → earned),
reversal (earned → prepaid), release (earned → escrow_cash, held until the bank executes),
refund (prepaid → escrow_cash, held), suspense_match (suspense → prepaid), suspense_return
(suspense → escrow_cash, held), reserve_deposit (reserve_cash → reserve). A refund the escrow
account could not pay, under risk-reserve supervision, is paid from the reserve: refund
(prepaid → reserve_cash, held) together with reserve_cover (reserve → earned, held).
In a wind-down (docs/winddown.md): shortfall (receivable → escrow_cash: an unexplained debit
booked against the institution), recovery (escrow_cash → receivable, then earned), wind_down
(prepaid → escrow_cash or reserve_cash, held: a round's payment).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

import ledger
from ledger import Account

ASSET = {"escrow_cash", "reserve_cash", "receivable"}


def open_institution_accounts(conn: Connection, institution_id: str, *, at: datetime) -> None:
    for kind in ("escrow_cash", "reserve_cash"):
        ledger.open_account(
            conn,
            ledger=institution_id,
            kind=kind,
            owner=institution_id,
            at=at,
            credits_must_not_exceed_debits=True,
        )
    for kind in ("earned", "suspense", "reserve"):
        ledger.open_account(
            conn,
            ledger=institution_id,
            kind=kind,
            owner=institution_id,
            at=at,
            debits_must_not_exceed_credits=True,
        )


def institution_account(conn: Connection, institution_id: str, kind: str) -> Account:
    account = ledger.find_account(conn, ledger=institution_id, kind=kind, owner=institution_id)
    if account is None:
        raise ledger.LedgerCorrupted(f"institution {institution_id} has no {kind} account")
    return account


def prepaid_account(
    conn: Connection, institution_id: str, enrollment_id: str, *, at: datetime
) -> Account:
    """What an enrollment's parent is owed: opened by its first payment, found after (a lesson
    or refund reads it; a read is cheaper than an insert that finds it there)."""
    found = ledger.find_account(conn, ledger=institution_id, kind="prepaid", owner=enrollment_id)
    return found or open_prepaid_account(conn, institution_id, enrollment_id, at=at)


def open_prepaid_account(
    conn: Connection, institution_id: str, enrollment_id: str, *, at: datetime
) -> Account:
    """The prepaid account of an enrollment just made (opening is idempotent: one made by a
    concurrent first use is returned)."""
    return ledger.open_account(
        conn,
        ledger=institution_id,
        kind="prepaid",
        owner=enrollment_id,
        at=at,
        debits_must_not_exceed_credits=True,
    )


def lesson_accounts(
    conn: Connection, owners: Mapping[str, str], *, at: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    """For lessons of the enrollments `owners` names (enrollment → institution), in one
    lookup: each enrollment's prepaid account id, and each institution's earned account id.
    An enrollment with no prepaid account yet gets it opened (as `prepaid_account`)."""
    keys = {e: (inst, "prepaid", e) for e, inst in owners.items()}
    earned_keys = {inst: (inst, "earned", inst) for inst in set(owners.values())}
    found = ledger.account_ids(conn, {*keys.values(), *earned_keys.values()})
    missing = [inst for inst, key in earned_keys.items() if key not in found]
    if missing:
        raise ledger.LedgerCorrupted(f"institution {missing[0]} has no earned account")
    prepaid = {
        e: found.get(key) or prepaid_account(conn, key[0], e, at=at).id for e, key in keys.items()
    }
    return prepaid, {inst: found[key] for inst, key in earned_keys.items()}
