"""The move from one hash chain per ledger to one per debit account: existing transfers are
relinked and verify clean afterwards, and a tampered old chain stops the migration."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import bindparam, text

import ledger
from ledger.types import Money, UTCDateTime
from service.kit.db import make_engine
from service.kit.migrate import alembic_config
from tests.conftest import drop_pg_database, new_database

BEFORE = "640b048ac46b"  # the last revision with ledger_chains
AT = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)


def _old_link(row: dict[str, object], prev: str, seq: int) -> str:
    parts = [
        prev, str(row["id"]), str(row["ledger"]), str(seq), str(row["debit"]), str(row["credit"]),
        f"{row['amount']:.2f}", "posted", "t", "", "", str(row["reference"] or ""), "",
        "c" * 64, AT.isoformat(timespec="microseconds"),
    ]  # fmt: skip
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _old_books(url: str, tamper: bool) -> list[dict[str, object]]:
    """Write two ledgers the way the previous release did: per-ledger links and heads."""
    command.upgrade(alembic_config(url), BEFORE)
    engine = make_engine(url)
    rows: list[dict[str, object]] = []
    with engine.begin() as c:
        for name in ("L1", "L2"):
            ids = [f"acc_{name}_{k}" for k in range(3)]
            for account_id in ids:
                c.execute(
                    text(
                        "INSERT INTO ledger_accounts (id, ledger, kind, owner, currency, "
                        "debits_posted, credits_posted, debits_pending, credits_pending, "
                        "debits_must_not_exceed_credits, credits_must_not_exceed_debits, closed, "
                        "created_at) VALUES (:i, :l, :i, :i, 'CNY', 0, 0, 0, 0, false, false, "
                        "false, :at)"
                    ).bindparams(bindparam("at", type_=UTCDateTime())),
                    {"i": account_id, "l": name, "at": AT},
                )
            prev, seq = "0" * 64, 0
            # Interleaved debit accounts, so the per-account chains differ from the ledger's.
            for n, (d, cr) in enumerate([(0, 1), (1, 2), (0, 2), (2, 0), (0, 1), (1, 0)]):
                seq += 1
                row = {
                    "id": f"tr_{name}_{n}",
                    "ledger": name,
                    "debit": ids[d],
                    "credit": ids[cr],
                    "amount": Decimal(n + 1) * Decimal("1.25"),
                    "reference": f"ref {n}" if n % 2 else None,
                }
                link = _old_link(row, prev, seq)
                c.execute(
                    text(
                        "INSERT INTO ledger_transfers (id, ledger, chain_seq, debit_account_id, "
                        "credit_account_id, amount, kind, code, reference, content_hash, "
                        "created_at, prev_hash, hash) VALUES (:id, :ledger, :seq, :debit, "
                        ":credit, :amount, 'posted', 't', :reference, :content, :at, :prev, "
                        ":hash)"
                    ).bindparams(
                        bindparam("amount", type_=Money()), bindparam("at", type_=UTCDateTime())
                    ),
                    {**row, "seq": seq, "content": "c" * 64, "at": AT, "prev": prev, "hash": link},
                )
                for side, column in (
                    (row["debit"], "debits_posted"),
                    (row["credit"], "credits_posted"),
                ):
                    c.execute(
                        text(
                            f"UPDATE ledger_accounts SET {column} = {column} + :a WHERE id = :i"
                        ).bindparams(bindparam("a", type_=Money())),
                        {"a": row["amount"], "i": side},
                    )
                rows.append(row)
                prev = link
            c.execute(
                text("INSERT INTO ledger_chains (ledger, last_seq, last_hash) VALUES (:l, :s, :h)"),
                {"l": name, "s": seq, "h": prev},
            )
        if tamper:
            guard = (
                "ALTER TABLE ledger_transfers DISABLE TRIGGER ledger_transfers_no_update"
                if c.dialect.name == "postgresql"
                else "DROP TRIGGER ledger_transfers_no_update"
            )
            c.execute(text(guard))
            c.execute(text("UPDATE ledger_transfers SET amount = 99 WHERE id = 'tr_L2_3'"))
    engine.dispose()
    return rows


@pytest.fixture
def empty_url(backend: str, tmp_path: os.PathLike[str]):
    url = new_database(backend, str(tmp_path))
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


def test_existing_transfers_are_relinked_per_account(empty_url: str) -> None:
    rows = _old_books(empty_url, tamper=False)
    command.upgrade(alembic_config(empty_url), "head")
    engine = make_engine(empty_url)
    with engine.begin() as c:
        report = ledger.verify(c)
        assert report.ok, report.problems
        assert report.entries_checked == len(rows)
        # Each debit account's chain keeps the old order of its transfers.
        got = c.execute(
            text(
                "SELECT debit_account_id, id FROM ledger_transfers ORDER BY debit_account_id, chain_seq"
            )
        ).all()
        expected = sorted(
            ((str(r["debit"]), str(r["id"])) for r in rows),
            key=lambda p: (p[0], int(p[1].rsplit("_", 1)[1])),
        )
        assert [tuple(g) for g in got] == expected
        # The migrated books take new transfers, chained on from the relinked heads.
        ledger.transfer(
            c, debit="acc_L1_0", credit="acc_L1_2", amount=Decimal("0.01"), code="t", at=AT
        )
        assert ledger.verify(c).ok
    engine.dispose()


def test_a_tampered_old_chain_stops_the_migration(empty_url: str) -> None:
    _old_books(empty_url, tamper=True)
    with pytest.raises(RuntimeError, match="tr_L2_3"):
        command.upgrade(alembic_config(empty_url), "head")


def test_downgrade_and_upgrade_again_keep_the_books_verifiable(empty_url: str) -> None:
    """Down to per-ledger chains (their own check runs on the way back up) and up again."""
    command.upgrade(alembic_config(empty_url), "head")
    engine = make_engine(empty_url)
    with engine.begin() as c:
        w = ledger.open_account(c, ledger="L", kind="world", owner="w", at=AT)
        a = ledger.open_account(c, ledger="L", kind="a", owner="a", at=AT)
        b = ledger.open_account(c, ledger="L", kind="b", owner="b", at=AT)
        ledger.transfer(c, debit=w.id, credit=a.id, amount=Decimal("9.00"), code="t", at=AT)
        h = ledger.hold(c, debit=a.id, credit=b.id, amount=Decimal("4.00"), code="t", at=AT)
        ledger.post(c, pending_id=h.id, amount=Decimal("1.50"), at=AT)
        ledger.transfer(c, debit=b.id, credit=w.id, amount=Decimal("0.50"), code="t", at=AT)
    engine.dispose()
    command.downgrade(alembic_config(empty_url), BEFORE)
    command.upgrade(alembic_config(empty_url), "head")  # checks every per-ledger link first
    engine = make_engine(empty_url)
    with engine.connect() as c:
        report = ledger.verify(c)
        assert report.ok, report.problems
        assert report.entries_checked == 4
    engine.dispose()
