"""Ledger throughput on PostgreSQL, against plain COPY into an equivalent table.

Measures, in one run on a fresh database:
  1. single transfers, one per database transaction, 8 concurrent writers, uniform accounts;
  2. the same with every transfer touching one of 2 hot accounts;
  3. transfers in atomic batches of 1,000;
  4. baseline: COPY of the same number of rows into a table shaped like ledger_transfers;
  5. ceiling for (1): the same SQL a single transfer runs (the one `ledger_transfer_one`
     call, commit), issued from raw psycopg by 8 writers with no Python-side hashing or
     SQLAlchemy, on a second fresh database. What (1) cannot exceed without changing its SQL
     or the schema.

Run: .venv/bin/python bench/ledger.py [--seconds 10] [--writers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

import ledger
from bench.common import Stopwatch, psycopg_dsn, temporary_pg_database
from ledger import NewTransfer
from service.kit.db import make_engine
from service.kit.migrate import upgrade

AT = datetime(2026, 9, 1, tzinfo=UTC)
LEDGERS = 64
ACCOUNTS = 20


def setup(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    plan: dict[str, list[str]] = {}
    with engine.begin() as c:
        for i in range(LEDGERS):
            name = f"inst{i:03d}"
            world = ledger.open_account(c, ledger=name, kind="world", owner=name, at=AT)
            accts = [
                ledger.open_account(
                    c,
                    ledger=name,
                    kind="liab",
                    owner=f"{name}-{k}",
                    at=AT,
                    debits_must_not_exceed_credits=True,
                ).id
                for k in range(ACCOUNTS)
            ]
            ledger.batch(
                c,
                [
                    NewTransfer(
                        debit_account_id=world.id,
                        credit_account_id=a,
                        amount=Decimal("1000000.00"),
                        code="seed",
                    )
                    for a in accts
                ],
                at=AT,
            )
            plan[name] = [world.id, *accts]
    engine.dispose()
    return plan


def writer(
    url: str, plan: dict[str, list[str]], mode: str, seconds: float, seed: int, out: mp.Queue
) -> None:
    # One connection per writer, checked once: a pre-ping per transfer would measure the pool.
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    rng = random.Random(seed)
    names = sorted(plan)
    hot_ledger = names[0]
    hot = plan[hot_ledger][1:3]
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if mode == "hot":
            accts = plan[hot_ledger]
            debit = rng.choice(hot)
            credit = rng.choice([a for a in accts[1:] if a != debit])
        else:
            accts = plan[rng.choice(names)]
            debit, credit = rng.sample(accts[1:], 2)
        amount = Decimal(rng.randint(1, 999)) / 100

        def work(conn, debit=debit, credit=credit, amount=amount):
            return ledger.transfer(conn, debit=debit, credit=credit, amount=amount, code="t", at=AT)

        ledger.run_transaction(engine, work)
        done += 1
    out.put(done)
    engine.dispose()


def concurrent(
    url: str, plan: dict[str, list[str]], mode: str, writers: int, seconds: float
) -> float:
    return race(writers, lambda i, q: (writer, (url, plan, mode, seconds, i, q)))


def race(writers: int, job: Callable[[int, mp.Queue], tuple[Callable[..., None], tuple]]) -> float:
    """Run `writers` processes at once; each puts its count of transfers on the queue."""
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()
    procs = []
    for i in range(writers):
        target, args = job(i, q)
        procs.append(ctx.Process(target=target, args=args))
    watch = Stopwatch()
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    return total / watch.elapsed


def batched(url: str, plan: dict[str, list[str]], batches: int, size: int) -> tuple[float, int]:
    engine = make_engine(url)
    rng = random.Random(1)
    names = sorted(plan)
    prepared = []
    for b in range(batches):
        accts = plan[names[b % len(names)]][1:]
        ops = []
        for _ in range(size):
            d, c = rng.sample(accts, 2)
            ops.append(
                NewTransfer(
                    debit_account_id=d,
                    credit_account_id=c,
                    amount=Decimal(rng.randint(1, 999)) / 100,
                    code="batch",
                )
            )
        prepared.append(ops)
    watch = Stopwatch()
    for ops in prepared:
        with engine.begin() as conn:
            ledger.batch(conn, ops, at=AT)
    rate = batches * size / watch.elapsed
    engine.dispose()
    return rate, batches * size


def copy_baseline(url: str, rows: int) -> float:
    dsn = psycopg_dsn(url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE copy_bench (LIKE ledger_transfers INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        sample = conn.execute(
            "SELECT ledger, debit_account_id, credit_account_id FROM ledger_transfers LIMIT 1"
        ).fetchone()
        assert sample is not None
        data = [
            (
                f"tr_copy{i:027d}",
                sample[0],
                10_000_000 + i,
                sample[1],
                sample[2],
                Decimal("1.23"),
                "posted",
                "t",
                None,
                None,
                None,
                None,
                "c" * 64,
                AT,
                "p" * 64,
                "h" * 64,
            )
            for i in range(rows)
        ]
        watch = Stopwatch()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY copy_bench (id, ledger, chain_seq, debit_account_id, credit_account_id, "
                "amount, kind, code, pending_id, expires_at, reference, idempotency_key, "
                "content_hash, created_at, prev_hash, hash) FROM STDIN"
            ) as copy,
        ):
            for row in data:
                copy.write_row(row)
        return rows / watch.elapsed


def sql_ceiling_writer(
    dsn: str, plan: dict[str, list[str]], seconds: float, seed: int, out: mp.Queue
) -> None:
    from ledger.postings import _PG_SINGLE

    rng = random.Random(seed)
    names = sorted(plan)
    zero, amount = Decimal("0.00"), Decimal("0.01")
    done = 0
    with psycopg.connect(dsn) as c:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            lg = rng.choice(names)
            d, cr = rng.sample(plan[lg][1:], 2)
            params = (
                d, cr, amount, zero, f"tr_ceiling_{seed}_{done}", "t", "posted", "t",
                None, None, None, "f" * 64, AT,
            )  # fmt: skip
            c.execute(_PG_SINGLE, params, prepare=True).fetchall()
            c.commit()
            done += 1
    out.put(done)


def sql_ceiling(writers: int, seconds: float) -> float:
    with temporary_pg_database("tg_bench_ceiling") as url:
        upgrade(url)
        plan = setup(url)
        dsn = psycopg_dsn(url)
        return race(writers, lambda i, q: (sql_ceiling_writer, (dsn, plan, seconds, i, q)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--batches", type=int, default=30)
    args = ap.parse_args()
    with temporary_pg_database("tg_bench_ledger") as url:
        upgrade(url)
        plan = setup(url)
        print(
            f"ledger benchmark on PostgreSQL ({LEDGERS} ledgers x {ACCOUNTS} accounts)", flush=True
        )
        uniform = concurrent(url, plan, "uniform", args.writers, args.seconds)
        print(
            f"  single transfers, {args.writers} writers, uniform      {uniform:10,.0f} /s",
            flush=True,
        )
        hot = concurrent(url, plan, "hot", args.writers, args.seconds)
        print(
            f"  single transfers, {args.writers} writers, 2 hot accts  {hot:10,.0f} /s", flush=True
        )
        batch_rate, n = batched(url, plan, args.batches, 1000)
        print(f"  atomic batches of 1,000                     {batch_rate:10,.0f} /s", flush=True)
        copy_rate = copy_baseline(url, n)
        print(
            f"  baseline: COPY of {n:,} rows                {copy_rate:10,.0f} rows/s", flush=True
        )
        engine = make_engine(url)
        with engine.connect() as c:
            report = ledger.verify(c)
        engine.dispose()
        print(f"verify after the run: ok={report.ok} entries={report.entries_checked}", flush=True)
    ceiling = sql_ceiling(args.writers, args.seconds)
    print(f"  ceiling: the same SQL from raw psycopg, {args.writers} writers {ceiling:10,.0f} /s")
    print("ratios:")
    print(f"  batched / COPY                 {batch_rate / copy_rate:6.1%}   (goal >= 25%)")
    print(f"  uniform single vs 2,000/s goal {uniform / 2000:6.2f}x")
    print(f"  uniform single / SQL ceiling   {uniform / ceiling:6.1%}")
    print(f"  hot / uniform                  {hot / uniform:6.1%}   (goal >= 50%)")


if __name__ == "__main__":
    main()
