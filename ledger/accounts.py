"""Opening, finding and closing accounts."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger import errors
from ledger.ids import new_id
from ledger.lists import text_array
from ledger.models import Account
from ledger.prebuilt import prebuilt
from ledger.schema import GENESIS_HASH, accounts

_COUNTERS = ("debits_posted", "credits_posted", "debits_pending", "credits_pending")


@cache
def _open(dialect_name: str) -> Any:
    """The insert that opens an account unless its natural key exists, returning it if it
    opened it: built and compiled once (building, keying and compiling it cost more than
    running it)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = (
        dialect.insert(accounts)
        .on_conflict_do_nothing(index_elements=["ledger", "kind", "owner"])
        .returning(*accounts.c)
    )
    return prebuilt(stmt, dialect_name, returning=tuple(accounts.c))


def open_account(
    conn: Connection,
    *,
    ledger: str,
    kind: str,
    owner: str,
    at: datetime,
    debits_must_not_exceed_credits: bool = False,
    credits_must_not_exceed_debits: bool = False,
) -> Account:
    """Open the account (ledger, kind, owner), or return it if it exists: opening is idempotent
    on that natural key, so concurrent first uses of an account cannot create two."""
    if debits_must_not_exceed_credits and credits_must_not_exceed_debits:
        raise errors.LedgerMismatch("an account cannot carry both limit flags")
    row = conn.execute(
        _open(conn.dialect.name),
        {
            "id": new_id("acc"),
            "ledger": ledger,
            "kind": kind,
            "owner": owner,
            "currency": "CNY",
            "debits_must_not_exceed_credits": debits_must_not_exceed_credits,
            "credits_must_not_exceed_debits": credits_must_not_exceed_debits,
            "closed": False,
            **dict.fromkeys(_COUNTERS, 0),
            "created_at": at,
            "last_seq": 0,
            "last_at": at,
            "last_hash": GENESIS_HASH,
        },
    ).one_or_none()
    if row is None:  # it was there: opened before, or by a concurrent first use
        row = conn.execute(_BY_KEY, {"ledger": ledger, "kind": kind, "owner": owner}).one()
    account = Account.from_row(row)
    if (
        account.debits_must_not_exceed_credits != debits_must_not_exceed_credits
        or account.credits_must_not_exceed_debits != credits_must_not_exceed_debits
    ):
        raise errors.LedgerMismatch(f"account {account.id} exists with other limit flags")
    return account


def get_account(conn: Connection, account_id: str) -> Account:
    row = conn.execute(_BY_ID, {"id": account_id}).one_or_none()
    if row is None:
        raise errors.AccountNotFound(f"no account {account_id}")
    return Account.from_row(row)


def find_account(conn: Connection, *, ledger: str, kind: str, owner: str) -> Account | None:
    row = conn.execute(_BY_KEY, {"ledger": ledger, "kind": kind, "owner": owner}).one_or_none()
    return None if row is None else Account.from_row(row)


# Built once: every money flow looks accounts up, and building and keying the statement
# cost more than the indexed read it runs.
_BY_ID = select(accounts).where(accounts.c.id == bindparam("id"))
_BY_KEY = select(accounts).where(
    accounts.c.ledger == bindparam("ledger"),
    accounts.c.kind == bindparam("kind"),
    accounts.c.owner == bindparam("owner"),
)


def account_ids(
    conn: Connection, keys: Collection[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    """The ids of the accounts with these natural keys (ledger, kind, owner), by key: what a
    caller needs to name the accounts of a thousand transfers, read without their balances.
    Keys with no account are left out.

    Each key is one probe of the natural-key index. (Matching ledgers, kinds and owners as
    three separate lists instead reads every account of the ledgers named — all of an
    institution's prepaid accounts, for a batch that pays a thousand of them.)"""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(
            "SELECT a.id, a.ledger, a.kind, a.owner FROM ledger_accounts a"
            " JOIN unnest(%(l)s::text[], %(k)s::text[], %(o)s::text[]) AS k(ledger, kind, owner)"
            " ON a.ledger = k.ledger AND a.kind = k.kind AND a.owner = k.owner",
            {f: text_array([k[n] for k in wanted]) for n, f in enumerate("lko")},
        )
    else:
        # SQLite scans the whole table for a row-value IN list (`(a, b, c) IN (VALUES …)`),
        # so its cost grew with every account ever opened; joined from a JSON array, each
        # key is one probe of the natural-key index, as the unnest is on PostgreSQL.
        rows = conn.exec_driver_sql(
            "SELECT a.id, a.ledger, a.kind, a.owner FROM json_each(?) AS k"
            " CROSS JOIN ledger_accounts a ON a.ledger = json_extract(k.value, '$[0]')"
            " AND a.kind = json_extract(k.value, '$[1]')"
            " AND a.owner = json_extract(k.value, '$[2]')",
            (json.dumps(wanted),),
        )
    return {(r[1], r[2], r[3]): r[0] for r in rows}


def close_account(conn: Connection, account_id: str) -> Account:
    """Close an account with nothing on hold: it keeps its history and takes no new transfers."""
    get_account(conn, account_id)
    # The UPDATE locks the row as writers do, and re-checks the holds on the newest version.
    row = conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .where(accounts.c.debits_pending == 0, accounts.c.credits_pending == 0)
        .values(closed=True)
        .returning(accounts)
    ).one_or_none()
    if row is None:
        raise errors.AccountClosed(f"account {account_id} has amounts on hold")
    return Account.from_row(row)
