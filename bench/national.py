"""The national rollups' lag behind the provinces (issue 37; goal: under 60 s), on this machine:
two provinces and the national database joined by logical replication
(tools/cluster/national.py: three scratch PostgreSQL 15 servers, a scheduler per province
whose `national_rollups` job refreshes every 15 s, one subscription per province).

While writers move money on both provinces (`--rate` deposits a second each, the load), a
probe, again and again, puts a deposit into one institution of a province and times how long
until the national database shows that institution's new escrow: the end-to-end lag (the wait
for the next refresh, the refresh, the replication and its apply). Beside it, each time a
province's as-of (`refreshed_at`) changes on the national database, how long after that
refresh began it arrived: the replication's part. Then the writers stop, one more refresh
is awaited, and every rollup row of each province is compared with the national database's
copy: equal, row for row. Everything is stopped and removed at the end.

Run: .venv/bin/python bench/national.py [--probes 16] [--rate 5] [--institutions 500]
(`make bench-national`; not in `make test`)
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.db import make_sessionmaker, run_in_transaction
from service.national import rollups
from service.national.models import TABLES
from tools.cluster import national


def _escrow(server: national.pglocal.Server, province: str, inst: str) -> Decimal | None:
    with psycopg.connect(national._dsn(server)) as c:
        row = c.execute("SELECT escrow FROM national_institutions WHERE province = %s AND "
                        "institution_id = %s", (province, inst)).fetchone()  # fmt: skip
    return None if row is None else Decimal(row[0])


def _own_escrow(p: national.Province, inst: str) -> Decimal:
    with psycopg.connect(national._dsn(p.server)) as c:
        row = c.execute("SELECT debits_posted - credits_posted FROM ledger_accounts WHERE "
                        "ledger = %s AND owner = %s AND kind = 'escrow_cash'", (inst, inst)
                        ).fetchone()  # fmt: skip
    assert row is not None
    return Decimal(row[0])


def _same_rows(f: national.Federation) -> dict[str, bool]:
    """Each province's rollup tables against the national database's rows of that province."""
    assert f.national is not None
    out = {}
    for code, p in f.provinces.items():
        same = True
        for model in TABLES:
            q = f"SELECT * FROM {model.__tablename__} WHERE province = %s ORDER BY 1, 2"
            with psycopg.connect(national._dsn(p.server)) as a:
                mine = a.execute(q.encode(), (code,)).fetchall()
            with psycopg.connect(national._dsn(f.national)) as b:
                theirs = b.execute(q.encode(), (code,)).fetchall()
            same = (
                same
                and mine == theirs
                and bool(mine or model.__tablename__ != "national_provinces")
            )
        out[code] = same
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=16)
    parser.add_argument("--rate", type=float, default=5, help="deposits a second per province")
    parser.add_argument("--institutions", type=int, default=500, help="per province")
    args = parser.parse_args()
    lacking = national.missing()
    if lacking:
        print(f"national: skipped, {'; '.join(lacking)}")
        return 0
    print(f"machine: {_uptime()}")
    began = time.monotonic()
    with national.running(institutions=args.institutions) as f:
        assert f.national is not None
        print(f"up in {time.monotonic() - began:.0f} s: 2 provinces of {args.institutions} "
              "institutions, the national database, 2 schedulers, the national API")  # fmt: skip
        national.pglocal.wait_until(lambda: set(f.national_rows()) == set(national.PROVINCES),
                                    180, "both provinces in the national database")  # fmt: skip
        stop = threading.Event()
        written = {code: 0 for code in f.provinces}
        refused: dict[str, int] = {}
        arrivals: list[float] = []

        def writer(p: national.Province) -> None:
            rng = random.Random(p.code)
            sessions = make_sessionmaker(p.engine)
            while not stop.is_set():
                inst = rng.choice(p.institutions)

                def one(s: Session, inst: str = inst) -> None:
                    national.deposit(s, p, inst, Decimal("1.00"), datetime.now(UTC))

                try:
                    run_in_transaction(sessions, one)
                except DomainError as exc:  # counted, never the end of the load
                    refused[exc.code] = refused.get(exc.code, 0) + 1
                else:
                    written[p.code] += 1
                stop.wait(1 / args.rate)

        def watch() -> None:
            seen: dict[str, datetime] = {}
            while not stop.is_set():
                now = datetime.now(UTC)
                for code, at in f.national_rows().items():
                    if seen.get(code) not in (None, at):
                        arrivals.append((now - at).total_seconds())
                    seen[code] = at
                stop.wait(0.2)

        threads = [threading.Thread(target=writer, args=(p,), daemon=True)
                   for p in f.provinces.values()] + [threading.Thread(target=watch, daemon=True)]  # fmt: skip
        for t in threads:
            t.start()
        lags: list[float] = []
        rng = random.Random(7)
        for i in range(args.probes):
            p = list(f.provinces.values())[i % len(f.provinces)]
            inst = rng.choice(p.institutions)
            run_in_transaction(make_sessionmaker(p.engine), lambda s, p=p, inst=inst:
                               national.deposit(s, p, inst, Decimal("0.37"), datetime.now(UTC)))  # fmt: skip
            t0 = time.monotonic()
            want = _own_escrow(p, inst)
            # At least the escrow after the probe's deposit: a writer may have added since.
            while (_escrow(f.national, p.code, inst) or 0) < want and time.monotonic() - t0 < 180:
                time.sleep(0.2)
            lags.append(time.monotonic() - t0)
            print(f"  probe {i + 1}: {p.code}, {lags[-1]:.1f} s")
            time.sleep(rng.uniform(0, 5))  # at another phase of the 15-second refresh
        stop.set()
        for t in threads:
            t.join(10)
        load_seconds = time.monotonic() - began
        time.sleep(2 * national.rollups_every() + 5)  # a refresh after the last write, applied
        same = _same_rows(f)
        subs = f.subscriptions()
        durations = _refresh_seconds(f)
    print(f"national rollups' lag, {args.probes} probes, while {args.rate:g} deposits/s were "
          f"written on each province ({sum(written.values()):,} in all, refused: "
          f"{refused or 'none'}):")  # fmt: skip
    print(f"  end to end (a deposit on a province to its escrow in the national database): "
          f"p50 {statistics.median(lags):.1f} s, max {max(lags):.1f} s "
          f"(goal: under 60 s; the refresh runs every {national.rollups_every()} s)")  # fmt: skip
    if arrivals:
        print(f"  replication (a refresh's start to its as-of on the national database): "
              f"p50 {statistics.median(arrivals):.2f} s, max {max(arrivals):.2f} s, "
              f"{len(arrivals)} refreshes")  # fmt: skip
    for code, secs in durations.items():
        if secs:
            print(f"  a refresh of {code} ({args.institutions} institutions), timed here: p50 "
                  f"{statistics.median(secs):.2f} s, max {max(secs):.2f} s, {len(secs)} runs")  # fmt: skip
    for s in subs:
        print(f"  subscription {s['name']}: latest end {s['latest_end_time']}")
    for code, ok in same.items():
        print(f"  {'ok  ' if ok else 'FAIL'} the national database holds {code}'s rollup row "
              "for row")  # fmt: skip
    print(f"machine: {_uptime()}")
    print(f"run took {time.monotonic() - began:.0f} s ({load_seconds:.0f} s up and under load); "
          "everything stopped and removed")  # fmt: skip
    return 0 if all(same.values()) and max(lags) < 60 else 1


def _refresh_seconds(f: national.Federation) -> dict[str, list[float]]:
    """Three refreshes of each province's rollups timed here, as the job runs them (the job's
    own record stamps its end with the clock read at its start, so it cannot say)."""
    out: dict[str, list[float]] = {}
    for code, p in f.provinces.items():
        out[code] = []
        for _ in range(3):
            t0 = time.monotonic()
            run_in_transaction(make_sessionmaker(p.engine),
                               lambda s: rollups.refresh(s, now=datetime.now(UTC)))  # fmt: skip
            out[code].append(time.monotonic() - t0)
    return out


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
