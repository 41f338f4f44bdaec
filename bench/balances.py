"""A balance at a past instant on PostgreSQL, after one year and after three years of history.

In one run on a fresh database, two escrow-like accounts take the same traffic every day
(`--per-day` transfers in four batches: deposits in, releases out), one for the last year and
one for the last three years; then for each, at `--probes` random instants of its history:
  1. `ledger.balance(conn, id, as_of=t)`: the day's close and the entries after it;
  2. baseline: the same figures summed from every transfer up to `t` (what `balance` did
     before closes, and what `verify` still does), checked equal to (1) at every probe.
The goal: (1) after three years within 1.2x of (1) after one year, and under 2 ms.

Run: .venv/bin/python bench/balances.py [--per-day 100] [--probes 300]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Connection, Engine

import ledger
from bench.common import Stopwatch, analyze, machine_speed, pct, temporary_pg_database
from ledger import NewTransfer
from ledger.balances import _recomputed
from service.kit.db import make_engine
from service.kit.migrate import upgrade

TODAY = datetime(2026, 12, 1, 16, tzinfo=UTC)  # a Beijing midnight
HOURS = (1, 4, 7, 10)  # the day's four batches, UTC (09:00 to 18:00 in Beijing)


def history(engine: Engine, name: str, days: int, per_day: int) -> tuple[str, datetime]:
    """An account with `days` days of traffic ending at TODAY: (its id, its opening)."""
    opened = TODAY - timedelta(days=days)
    with engine.begin() as c:
        world = ledger.open_account(c, ledger=name, kind="world", owner=name, at=opened)
        cash = ledger.open_account(
            c,
            ledger=name,
            kind="escrow",
            owner=name,
            at=opened,
            credits_must_not_exceed_debits=True,
        )
        out = ledger.open_account(c, ledger=name, kind="operating", owner=name, at=opened)
    each = max(1, per_day // len(HOURS))
    for day in range(days):
        with engine.begin() as c:
            for hour in HOURS:
                at = opened + timedelta(days=day, hours=hour)
                ops = [
                    NewTransfer(
                        debit_account_id=out.id if k % 3 == 2 else cash.id,
                        credit_account_id=cash.id if k % 3 == 2 else world.id,
                        amount=Decimal("50.00") if k % 3 == 2 else Decimal("100.00"),
                        code="release" if k % 3 == 2 else "deposit",
                    )
                    for k in range(each)
                ]
                ledger.batch(c, ops, at=at)
    return cash.id, opened


def timed(
    conn: Connection, probes: list[datetime], read: Callable[[datetime], object]
) -> list[float]:
    out = []
    for t in probes:
        t0 = time.perf_counter()
        read(t)
        out.append((time.perf_counter() - t0) * 1000)
    conn.rollback()
    return out


def measure(engine: Engine, account: str, opened: datetime, probes: int) -> dict[str, list[float]]:
    rng = random.Random(7)
    span = (TODAY - opened).total_seconds()
    instants = [opened + timedelta(seconds=rng.uniform(0, span)) for _ in range(probes)]
    with engine.connect() as c:
        for t in instants[:20]:  # the probes agree with the full sum, and warm the caches
            lookup = ledger.balance(c, account, as_of=t)
            assert lookup == _recomputed(c, [account], t)[account], t
        lookups = timed(c, instants, lambda t: ledger.balance(c, account, as_of=t))
        sums = timed(c, instants, lambda t: _recomputed(c, [account], t))
    return {"lookup": lookups, "sum": sums}


def report(label: str, ms: list[float]) -> None:
    print(f"  {label:<44} p50 {pct(ms, 50):8.3f} ms   p95 {pct(ms, 95):8.3f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=100)
    parser.add_argument("--probes", type=int, default=300)
    args = parser.parse_args()
    print(f"machine: {machine_speed():.0f} ms for the reference work (lower is faster)")
    with temporary_pg_database("bench_balances") as url:
        upgrade(url)
        engine = make_engine(url)
        figures = {}
        for years in (1, 3):
            watch = Stopwatch()
            account, opened = history(engine, f"y{years}", 365 * years, args.per_day)
            print(f"{years} y of history: {365 * years * args.per_day:,} transfers written in "
                  f"{watch.elapsed:.0f} s", flush=True)  # fmt: skip
            analyze(engine)
            figures[years] = measure(engine, account, opened, args.probes)
        engine.dispose()
    print(f"balance(as_of) at {args.probes} random instants of each account's history:")
    for years in (1, 3):
        report(f"{years} y, day close + entries after it", figures[years]["lookup"])
        report(f"{years} y, baseline: sum of every transfer", figures[years]["sum"])
    for kind in ("lookup", "sum"):
        ratio = pct(figures[3][kind], 50) / pct(figures[1][kind], 50)
        print(f"  3 y / 1 y, p50, {kind:<6}: {ratio:.2f}x")
    print(f"  lookup against baseline at 3 y, p50: "
          f"{pct(figures[3]['sum'], 50) / pct(figures[3]['lookup'], 50):.1f}x faster")  # fmt: skip
    print(f"machine: {machine_speed():.0f} ms for the reference work (lower is faster)")


if __name__ == "__main__":
    main()
