from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection

import ledger
from ledger import Account


def new_ledger() -> str:
    return "L" + uuid.uuid4().hex[:12]


def world(conn: Connection, name: str, at: datetime) -> Account:
    """An unlimited account standing for the outside world (money comes from and goes to it)."""
    return ledger.open_account(conn, ledger=name, kind="world", owner=name, at=at)


def liability(conn: Connection, name: str, owner: str, at: datetime) -> Account:
    return ledger.open_account(
        conn, ledger=name, kind="liability", owner=owner, at=at, debits_must_not_exceed_credits=True
    )


def asset(conn: Connection, name: str, owner: str, at: datetime) -> Account:
    return ledger.open_account(
        conn, ledger=name, kind="asset", owner=owner, at=at, credits_must_not_exceed_debits=True
    )


D = Decimal
