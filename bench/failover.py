"""Failover under load (issue 37): a province's stack on this machine (tools/cluster/province.py:
etcd, Patroni over two PostgreSQL 15 servers with a synchronous standby, HAProxy, two API
processes, two schedulers), a load of lesson reports and releases through HAProxy, and the
leader's server killed (Patroni and PostgreSQL SIGKILLed) in the middle.

Prints, for the half before the kill (the baseline, same run) and the half after: the
acknowledged rate and the p99 of acknowledged requests; the time from the kill to Patroni's
new leader and to the next acknowledged write; the replica's lag under the load (the APIs'
/readyz and Patroni's view); and the checks of the books once the load is over, on the new
leader: `verify` clean, the trial balance balanced, every acknowledged operation present
exactly once, escrow = prepaid + earned + suspense per institution, the bank's balances equal
to the ledger's escrow, nothing pending. Exit 1 if a check fails.

The load is the chaos soak's clients (tests/e2e/soak.py: retry with the same keys until an
answer that is not a 5xx, 429 or a broken connection), with a mix weighted to lessons and to
what releases money (the release job, the bank's results). Everything is stopped and removed
at the end.

Run: .venv/bin/python bench/failover.py [--seconds 240] [--rate 40] [--clients 32] [--schools 8]
(`make bench-failover`; needs Debian's patroni, etcd-server, haproxy: `make cluster-deps`)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from tests.e2e.soak import Soak, check, recovery, seed
from tests.processes import cli
from tools.cluster import province


class Timed(Soak):
    """The soak's clients, timing every acknowledged request and weighted to lessons and
    releases."""

    MIX = (("enrol", 22), ("pay", 18), ("pay batch", 4), ("lesson", 36), ("refund", 4),
           ("settle", 10), ("jobs", 4), ("statement", 2))  # fmt: skip

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.latencies: list[tuple[float, float]] = []  # (when acknowledged, seconds)

    async def call(self, c: httpx.AsyncClient, kind: str, method: str, path: str,
                   body: Any = None, headers: dict[str, str] | None = None,
                   bank: bool = False, give_up: float = 120) -> httpx.Response | None:  # fmt: skip
        began = time.monotonic()
        r = await super().call(c, kind, method, path, body, headers, bank, give_up)
        if r is not None and r.status_code < 300:
            now = time.monotonic()
            self.latencies.append((now, now - began))
        return r


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values or [0])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--schools", type=int, default=8)
    args = parser.parse_args()
    lacking = province.missing()
    if lacking:
        print(f"failover: skipped, missing {', '.join(lacking)} (as root: make cluster-deps)")
        return 0
    began = time.monotonic()
    with province.running(api_env={"RATE_LIMIT_PER_SECOND": "0"}) as p:
        print(f"province up in {time.monotonic() - began:.1f} s: "
              + ", ".join(f"{m['name']} {m['role']}" for m in p.cluster()))  # fmt: skip
        env = p.env()
        regulator = cli(env, "regulator", "create", "--name", "Failover", "--region", "220000")
        bank = json.loads(cli(env, "bank", "create", "--name", "Failover Bank", "--code", "FAIL"))
        soak = Timed(p.base, bank["bank_id"], bank["secret"], regulator,
                     seed(p.base, regulator, bank["bank_id"], args.schools))  # fmt: skip
        lag: list[tuple[float, float | None, int | None]] = []  # when, API's seconds, bytes
        stop = threading.Event()
        events: dict[str, float] = {}

        def watch() -> None:
            while not stop.is_set():
                seconds = None
                try:
                    r = httpx.get(f"http://127.0.0.1:{p.api_ports[0]}/readyz", timeout=2).json()
                    seconds = r["read_replica"]["lag_seconds"]
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                lags = [m.get("lag") for m in p.cluster() if m["role"] != "leader"]
                nbytes = next((x for x in lags if isinstance(x, int)), None)
                lag.append((time.monotonic(), seconds, nbytes))
                stop.wait(1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        old = p.leader()
        assert old is not None

        async def kill() -> None:
            await asyncio.sleep(args.seconds / 2)
            events["kill"] = time.monotonic()
            p.kill_node(old)
            while time.monotonic() - events["kill"] < 180:  # Patroni's default: ~30-40 s
                await asyncio.sleep(0.5)
                new = await asyncio.to_thread(p.leader)
                if new is not None and new is not old:
                    events["new leader"] = time.monotonic()
                    return

        async def both() -> None:
            await asyncio.gather(soak.drive(args.seconds, args.rate, args.clients), kill())
            await soak.drain()

        load_began = time.monotonic()
        asyncio.run(both())
        stop.set()
        watcher.join(5)
        checks, details = check(p.write_url, soak)
        members = p.cluster()

    t = soak.tally
    k = events["kill"]
    before = [d for at, d in soak.latencies if load_began < at < k]
    after = [d for at, d in soak.latencies if at > events.get("new leader", k)]
    half = args.seconds / 2
    print(f"failover: {args.seconds:g} s of load at {args.rate:g} operations/s offered, "
          f"{args.clients} clients, {args.schools} schools, 2 API processes behind HAProxy")  # fmt: skip
    print(f"  before the kill (baseline): {len(before) / half:.1f} acknowledged requests/s, "
          f"p50 {statistics.median(before) * 1000:.0f} ms, p99 {p99(before) * 1000:.0f} ms")  # fmt: skip
    if after:
        print(f"  after the new leader: {len(after):,} acknowledged, p50 "
              f"{statistics.median(after) * 1000:.0f} ms, p99 {p99(after) * 1000:.0f} ms")  # fmt: skip
    print(f"  kill of {old.name} (Patroni + PostgreSQL SIGKILL) to Patroni's new leader: "
          f"{events.get('new leader', float('inf')) - k:.1f} s")  # fmt: skip
    print(f"  kill to the next acknowledgement (it may be one already in flight at the kill): "
          f"{recovery(t, k)} s; the outage, the longest gap between two acknowledgements: "
          f"{_gap(t.ok_times):.1f} s")  # fmt: skip
    seconds = [s for at, s, _ in lag if at < k and s is not None]
    nbytes = [b for at, _, b in lag if at < k and b is not None]
    if seconds:
        print(f"  replica lag under load (before the kill, /readyz each second): p50 "
              f"{statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")  # fmt: skip
    if nbytes:
        print(f"  replica lag by Patroni: p50 {statistics.median(nbytes):,.0f} B, "
              f"max {max(nbytes):,} B")  # fmt: skip
    print("  members at the end: " + ", ".join(f"{m['name']} {m['role']} {m.get('state')}"
                                                for m in members))  # fmt: skip
    print("  acknowledged by kind: " + ", ".join(f"{a} {n}" for a, n in t.acknowledged.items()))
    print("  errors (each failed attempt, retried): " + (", ".join(
        f"{a} x{n}" for a, n in t.errors.most_common()) or "none"))  # fmt: skip
    print(f"  500 answers: {sum(n for a, n in t.errors.items() if a.endswith(': 500'))}")
    print(f"  enrollments {details['enrollments']}, instructions {details['instructions']}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    print(f"run took {time.monotonic() - began:.0f} s; everything stopped and removed")
    return 0 if all(checks.values()) else 1


def _gap(times: list[float]) -> float:
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)


if __name__ == "__main__":
    raise SystemExit(main())
