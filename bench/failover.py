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

With `--capacity 5,10,20,40` it first offers lesson reports alone, a step at each rate
(`--step-seconds` each), and prints each step's p99 and the API processes' CPU (their user and
system seconds from /proc over the step's wall seconds): lesson reports per second per API core,
and the highest step whose p99 stayed under 200 ms. `--no-kill` runs the load without the kill
(the issue's 10-minute run without a failover: `--seconds 600 --no-kill`).

Run: .venv/bin/python bench/failover.py [--seconds 240] [--rate 40] [--clients 32] [--schools 8]
     [--no-kill] [--capacity 5,10,20,40 --step-seconds 30]
(`make bench-failover`; needs Debian's patroni, etcd-server, haproxy: `make cluster-deps`)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
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
        self.kinds: list[tuple[float, float, str]] = []  # the same, with the request's kind

    async def call(self, c: httpx.AsyncClient, kind: str, method: str, path: str,
                   body: Any = None, headers: dict[str, str] | None = None,
                   bank: bool = False, give_up: float = 120) -> httpx.Response | None:  # fmt: skip
        began = time.monotonic()
        r = await super().call(c, kind, method, path, body, headers, bank, give_up)
        if r is not None and r.status_code < 300:
            now = time.monotonic()
            self.latencies.append((now, now - began))
            self.kinds.append((now, now - began, kind))
        return r

    async def lessons_only(self, seconds: float, rate: float, clients: int) -> None:
        """Lesson reports alone, open loop at `rate` (the capacity steps)."""
        gate = asyncio.Semaphore(clients)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients)) as c:
            start, n = time.monotonic(), 0
            while time.monotonic() - start < seconds:
                n += 1
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                if gate.locked():
                    self.tally.errors["capacity: dropped, all clients busy"] += 1
                    continue
                await gate.acquire()
                task = asyncio.create_task(self.lesson(c))
                task.add_done_callback(lambda _t: gate.release())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)

    async def paid_enrollments(self, lessons: int, clients: int) -> None:
        """Enough enrolled and paid students for `lessons` lesson reports (four each)."""
        gate = asyncio.Semaphore(clients)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients)) as c:

            async def enrol() -> None:
                async with gate:
                    await self.enrol(c)

            await asyncio.gather(*(enrol() for _ in range(lessons // 4 + 1)))
            while any(s.awaiting for s in self.schools):
                await asyncio.gather(*(self.pay(c, True) for _ in range(clients)))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values or [0])


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of these processes and their descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in {p for root in pids for p in (root, *province._children(root))}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def capacity(soak: Timed, p: province.Province, rates: list[float], step: float,
             clients: int) -> None:  # fmt: skip
    """Lesson reports alone at each rate: acknowledged rate, p50/p99, the APIs' CPU."""
    asyncio.run(soak.paid_enrollments(int(sum(rates) * step * 1.2), clients))
    pids = [a.pid for a in p.apis]
    best: tuple[float, float] | None = None
    for rate in rates:
        began, cpu0 = time.monotonic(), _cpu_seconds(pids)
        asyncio.run(soak.lessons_only(step, rate, clients))
        wall, cpu = time.monotonic() - began, _cpu_seconds(pids) - cpu0
        done = [d for at, d, k in soak.kinds if at > began and k == "lesson"]
        if not done:
            print(f"  capacity {rate:g}/s offered: nothing acknowledged")
            continue
        per_core = len(done) / cpu if cpu else float("nan")
        tail = p99(done)
        print(f"  capacity {rate:g}/s offered: {len(done) / wall:.1f} lesson reports/s "
              f"acknowledged, p50 {statistics.median(done) * 1000:.0f} ms, p99 "
              f"{tail * 1000:.0f} ms; API processes {cpu / wall:.2f} cores busy: "
              f"{per_core:.1f} lesson reports per API core-second")  # fmt: skip
        if tail < 0.2:
            best = (len(done) / wall, per_core)
    if best is None:
        print("  capacity: no step kept lesson reports' p99 under 200 ms")
    else:
        print(f"  capacity: the highest step with p99 under 200 ms: {best[0]:.1f} lesson "
              f"reports/s, {best[1]:.1f} per API core-second")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", "--duration", type=float, default=240)
    parser.add_argument("--rate", type=float, default=40)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--schools", type=int, default=8)
    parser.add_argument("--no-kill", action="store_true", help="the load alone, no failover")
    parser.add_argument("--capacity", default="", help="lesson-report steps first: 5,10,20")
    parser.add_argument("--step-seconds", type=float, default=30)
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
        chief = json.loads(cli(env, "officer", "create", "--region", "220000", "--name", "Chief",
                               "--role", "supervisor"))  # fmt: skip
        soak = Timed(p.base, bank["bank_id"], bank["secret"], regulator,
                     seed(p.base, regulator, bank["bank_id"], args.schools, chief))  # fmt: skip
        print(f"  machine: {_uptime()}")
        if args.capacity:
            rates = [float(r) for r in args.capacity.split(",")]
            capacity(soak, p, rates, args.step_seconds, args.clients)
            print(f"  machine: {_uptime()}")
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
            if args.no_kill:
                return
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
        acked_before = sum(t for t in soak.tally.acknowledged.values())
        asyncio.run(both())
        stop.set()
        watcher.join(5)
        print(f"  machine: {_uptime()}")
        checks, details = check(p.write_url, soak)
        members = p.cluster()

    t = soak.tally
    k = events.get("kill", load_began + args.seconds)
    before = [d for at, d in soak.latencies if load_began < at < k]
    after = [d for at, d in soak.latencies if at > events.get("new leader", k)]
    half = k - load_began
    print(f"failover: {args.seconds:g} s of load at {args.rate:g} operations/s offered, "
          f"{args.clients} clients, {args.schools} schools, 2 API processes behind HAProxy"
          + (", no kill" if args.no_kill else ""))  # fmt: skip
    print(f"  {'the whole load' if args.no_kill else 'before the kill (baseline)'}: "
          f"{len(before) / half:.1f} acknowledged requests/s, "
          f"p50 {statistics.median(before) * 1000:.0f} ms, p99 {p99(before) * 1000:.0f} ms")  # fmt: skip
    print(
        f"  acknowledged operations in the load: "
        f"{sum(t.acknowledged.values()) - acked_before:,} "
        f"({(sum(t.acknowledged.values()) - acked_before) / args.seconds:.1f}/s sustained)"
    )
    if after and not args.no_kill:
        print(f"  after the new leader: {len(after):,} acknowledged, p50 "
              f"{statistics.median(after) * 1000:.0f} ms, p99 {p99(after) * 1000:.0f} ms")  # fmt: skip
    if not args.no_kill:
        print(f"  kill of {old.name} (Patroni + PostgreSQL SIGKILL) to Patroni's new leader: "
              f"{events.get('new leader', float('inf')) - k:.1f} s")  # fmt: skip
        print(f"  kill to the next acknowledgement (it may be one already in flight at the "
              f"kill): {recovery(t, k)} s")  # fmt: skip
    print(f"  the longest gap between two acknowledgements: {_gap(t.ok_times):.1f} s")
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


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _gap(times: list[float]) -> float:
    ordered = sorted(times)
    return max((b - a for a, b in itertools.pairwise(ordered)), default=0.0)


if __name__ == "__main__":
    raise SystemExit(main())
