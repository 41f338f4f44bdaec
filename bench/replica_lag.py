"""A streaming replica's lag under the heaviest write load this machine makes (issue 37): a
scratch primary (initdb) and its replica (pg_basebackup -R), both on ports of their own
(tools/cluster/pglocal.py), the ledger's tables migrated; then the ledger benchmark's writers
(bench/ledger.py: single transfers by 8 writers, then atomic batches of 1,000) against the
primary while the replica's lag is sampled every half second as the service measures it
(service/kit/replica.py `postgres_lag`: WAL bytes not replayed, age of the last replayed
transaction).

Baseline in the same run: the same single transfers with the replica stopped, so the ratio
says what streaming costs the primary. Both servers run with fsync off (scratch servers on a
shared machine); the replica is asynchronous, as a read replica is. Everything is stopped and
removed at the end.

Run: .venv/bin/python bench/replica_lag.py [--seconds 30] [--writers 8]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import batched, concurrent, setup
from service.kit.db import make_engine
from service.kit.migrate import upgrade
from service.kit.replica import Lag, postgres_lag
from tools.cluster import pglocal


def sampled(measure: object, stop: threading.Event, out: list[Lag]) -> None:
    while not stop.is_set():
        try:
            lag = measure()  # type: ignore[operator]
        except Exception:
            lag = None
        if lag is not None:
            out.append(lag)
        stop.wait(0.5)


def summary(name: str, lags: list[Lag]) -> None:
    if not lags:
        print(f"  {name}: no samples")
        return
    secs = sorted(x.seconds for x in lags)
    nbytes = sorted(x.bytes for x in lags)
    p99 = lambda v: v[min(len(v) - 1, int(len(v) * 0.99))]  # noqa: E731
    print(f"  {name}: {len(lags)} samples; seconds p50 {statistics.median(secs):.3f} "
          f"p99 {p99(secs):.3f} max {secs[-1]:.3f}; bytes p50 {statistics.median(nbytes):,.0f} "
          f"p99 {p99(nbytes):,} max {nbytes[-1]:,}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()
    why = pglocal.available()
    if why:
        print(f"replica lag: skipped, {why}")
        return 0
    root = Path(tempfile.mkdtemp(prefix="tg-replica-lag-"))
    primary = pglocal.primary(root)
    replica = None
    try:
        upgrade(primary.url)
        plan = setup(primary.url)
        replica = pglocal.replica(primary, root)
        p_engine = make_engine(primary.url, pool_size=1)
        r_engine = make_engine(replica.url, pool_size=1, connect_args={"connect_timeout": 2})
        measure = postgres_lag(p_engine, r_engine)
        pglocal.wait_until(lambda: (lag := measure()) is not None and lag.bytes == 0, 60,
                           "the replica caught up")  # fmt: skip

        runs: dict[str, tuple[float, list[Lag]]] = {}
        for name, work in (
            ("single transfers", lambda: concurrent(primary.url, plan, "uniform", args.writers,
                                                    args.seconds)),
            ("batches of 1,000", lambda: _batches(primary.url, plan, args.seconds)),
        ):  # fmt: skip
            lags: list[Lag] = []
            stop = threading.Event()
            watcher = threading.Thread(target=sampled, args=(measure, stop, lags))
            watcher.start()
            rate = work()
            stop.set()
            watcher.join()
            runs[name] = (rate, lags)
            caught = time.monotonic()
            pglocal.wait_until(lambda: (lag := measure()) is not None and lag.bytes == 0, 120,
                               "the replica caught up")  # fmt: skip
            runs[name + " (catch-up s)"] = (time.monotonic() - caught, [])
        r_engine.dispose()
        replica.stop("fast")
        baseline = concurrent(primary.url, plan, "uniform", args.writers, args.seconds)
        p_engine.dispose()
    finally:
        if replica is not None:
            replica.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)

    single, single_lags = runs["single transfers"]
    batch, batch_lags = runs["batches of 1,000"]
    print(f"replica lag: a primary and its asynchronous streaming replica on this machine, "
          f"{args.seconds:g} s per phase, {args.writers} writers")  # fmt: skip
    print(f"  single transfers with the replica streaming: {single:,.0f} /s; "
          f"baseline, replica stopped: {baseline:,.0f} /s (ratio {single / baseline:.2f})")  # fmt: skip
    summary("lag under single transfers", single_lags)
    print(f"  caught up {runs['single transfers (catch-up s)'][0]:.1f} s after the load stopped")
    print(f"  batches of 1,000 with the replica streaming: {batch:,.0f} transfers/s")
    summary("lag under batches", batch_lags)
    print(f"  caught up {runs['batches of 1,000 (catch-up s)'][0]:.1f} s after the load stopped")
    print("  everything stopped and removed")
    return 0


def _batches(url: str, plan: dict[str, list[str]], seconds: float) -> float:
    """Batches of 1,000 for about `seconds`: as many as the first ten took, scaled."""
    began = time.monotonic()
    rate, done = batched(url, plan, 10, 1000)
    spent = time.monotonic() - began
    more = max(0, int((seconds - spent) / max(spent, 0.01) * 10))
    if more:
        rate2, done2 = batched(url, plan, more, 1000)
        return (done + done2) / (done / rate + done2 / rate2)
    return rate


if __name__ == "__main__":
    raise SystemExit(main())
