"""16 threads move money among a few hot accounts and many cold ones, with holds, posts and
voids mixed in, and transfers in transactions of their own (`transfer_alone`) among them. Afterwards nothing was created or lost, no limit was broken, verify is clean,
and every transfer a thread saw committed is in the ledger exactly once."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

import ledger
from ledger import errors
from ledger.schema import accounts, transfers
from tests.integration.ledger.helpers import new_ledger

THREADS = 16
SECONDS = float(os.environ.get("TG_CONCURRENCY_SECONDS", "20"))


@pytest.mark.xdist_group("concurrency")
def test_sixteen_writers(engine: Engine, backend: str) -> None:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    ledgers = [new_ledger() for _ in range(3)]
    plan: dict[str, dict[str, list[str]]] = {}
    with engine.begin() as c:
        for name in ledgers:
            world = ledger.open_account(c, ledger=name, kind="world", owner="w", at=at)
            hot = [
                ledger.open_account(
                    c,
                    ledger=name,
                    kind="hot",
                    owner=f"h{i}",
                    at=at,
                    debits_must_not_exceed_credits=True,
                ).id
                for i in range(2)
            ]
            cold = [
                ledger.open_account(
                    c,
                    ledger=name,
                    kind="cold",
                    owner=f"c{i}",
                    at=at,
                    debits_must_not_exceed_credits=True,
                ).id
                for i in range(30)
            ]
            plan[name] = {"world": [world.id], "hot": hot, "cold": cold}

    committed: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    failures: list[BaseException] = []
    stop = time.monotonic() + (SECONDS if backend == "postgresql" else SECONDS / 2)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        my_holds: list[str] = []
        try:
            while time.monotonic() < stop:
                name = rng.choice(ledgers)
                p = plan[name]
                pool = p["hot"] * 6 + p["cold"]  # hot accounts take most of the traffic
                debit = rng.choice(p["world"] + pool)
                credit = rng.choice([a for a in p["world"] + pool if a != debit])
                amount = Decimal(rng.randint(1, 5000)) / 100
                action = rng.random()

                def work(conn, debit=debit, credit=credit, amount=amount, action=action):
                    if action < 0.6:
                        return ledger.transfer(
                            conn, debit=debit, credit=credit, amount=amount, code="t", at=at
                        )
                    if action < 0.8 or not my_holds:
                        return ledger.hold(
                            conn, debit=debit, credit=credit, amount=amount, code="h", at=at
                        )
                    pending = my_holds.pop(rng.randrange(len(my_holds)))
                    if action < 0.9:
                        return ledger.post(conn, pending_id=pending, at=at)
                    return ledger.void(conn, pending_id=pending, at=at)

                try:
                    if action < 0.3:  # a transfer that is its own transaction: one round trip
                        t = ledger.transfer_alone(
                            engine, debit=debit, credit=credit, amount=amount, code="t", at=at
                        )
                    else:
                        t = ledger.run_transaction(engine, work)
                except (errors.ExceedsCredits, errors.ExceedsDebits):
                    refused["limit"] += 1
                    continue
                committed[t.id] += 1
                if t.kind == "pending":
                    my_holds.append(t.id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    assert sum(committed.values()) > 200 and refused["limit"] > 0

    with engine.connect() as c:
        stored = {
            r.id for r in c.execute(select(transfers.c.id).where(transfers.c.ledger.in_(ledgers)))
        }
        # Nothing acknowledged was lost, nothing was written that nobody saw committed.
        assert set(committed) == stored and max(committed.values()) == 1
        tb = ledger.trial_balance(c, ledgers=ledgers)
        assert tb.balanced
        for r in c.execute(select(accounts).where(accounts.c.ledger.in_(ledgers))):
            if r.debits_must_not_exceed_credits:
                assert r.debits_posted + r.debits_pending <= r.credits_posted
        report = ledger.verify(c, ledgers=ledgers)
        assert report.ok, report.problems[:3]
        assert report.entries_checked == len(stored)
