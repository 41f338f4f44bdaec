"""A province's failover with the national subscription following it (issue 37), on this
machine: one province on Patroni (tools/cluster/province.py: etcd, two PostgreSQL 15 under
Patroni with a synchronous standby, HAProxy, an API, two schedulers whose `national_rollups`
job refreshes every 15 s) and the national database (a scratch PostgreSQL 15), the
subscription made and kept by `tuitionguard national-follow` through the province's HAProxy
write port (service/national/follow.py).

It seeds the province, publishes its rollups, waits until the national database holds them,
then while a writer puts deposits on the province (through the write port, retried through
the failover) kills the leader's server (Patroni and PostgreSQL, SIGKILL). It times: the kill
to Patroni's new leader; to the follower marking the province as resynchronising (the
national workbench then shows it with its last as-of and no figures); to the copy from the
new leader being complete; and to the national database holding the province's rollups equal,
row for row, to the new leader's. A row of another province, put on the national database
before the kill, must be untouched. Everything is stopped and removed at the end, on failure
too (a SIGTERM or SIGHUP included).

Run: .venv/bin/python bench/national_failover.py [--institutions 300]
(`make bench-national-failover`; minutes, not in `make test`)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from sqlalchemy.orm import Session

from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.national import view
from service.national.follow import detach_subscription_sql
from service.national.models import TABLES, NationalProvince
from tools.cluster import national, pglocal, province

CODE = "220000"
OTHER = "210000"  # a row of another province on the national database: never touched


def _rows(dsn: str, code: str) -> dict[str, list[Any]]:
    out = {}
    with psycopg.connect(dsn) as c:
        for model in TABLES:
            q = f"SELECT * FROM {model.__tablename__} WHERE province = %s ORDER BY 1, 2"
            out[model.__tablename__] = c.execute(q.encode(), (code,)).fetchall()
    return out


def _sync(dsn: str) -> tuple[str, str] | None:
    with psycopg.connect(dsn) as c:
        row = c.execute("SELECT state, reason FROM national_sync WHERE province = %s",
                        (CODE,)).fetchone()  # fmt: skip
    return None if row is None else (str(row[0]), str(row[1]))


def _other() -> NationalProvince:
    zero = Decimal("0.00")
    return NationalProvince(province=OTHER, refreshed_at=datetime.now(UTC), institutions=1,
                            critical=0, high=0, medium=0, low=1, unevaluated=0, escrow=zero,
                            owed=zero, with_statement=0, escrow_reported=zero,
                            bank_balance=zero, open_alerts=0, open_wind_downs=0)  # fmt: skip


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def _terminate(*_: object) -> None:
    raise SystemExit(143)  # runs the finally blocks: everything stopped and removed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=300)
    parser.add_argument("--rate", type=float, default=2.0, help="deposits a second on the province")
    args = parser.parse_args()
    lacking = province.missing()
    if lacking:
        print(f"missing: {', '.join(lacking)} (as root: make cluster-deps)", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    print(f"start {datetime.now(UTC):%H:%M:%S} UTC; {_uptime()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="tg-natfail-"))
    nat: pglocal.Server | None = None
    try:
        began = time.monotonic()
        with province.running(apis=1) as p:
            print(f"province up in {time.monotonic() - began:.0f} s", flush=True)
            nat = pglocal.primary(root, name="national")
            return _run(p, nat, root, args)
    finally:
        for proc in _FOLLOWERS:
            national._end(proc)
        if nat is not None:
            nat.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
        print(f"stopped and removed; {_uptime()}", flush=True)


_FOLLOWERS: list[subprocess.Popen[bytes]] = []  # ended by the finally blocks, whatever happened


def _run(p: province.Province, nat: pglocal.Server, root: Path, args: argparse.Namespace) -> int:
    try:
        return _measure(p, nat, root, args)
    finally:
        for proc in _FOLLOWERS:
            national._end(proc)
        try:  # the subscription off, its slot left: the province is removed with it
            with psycopg.connect(national._dsn(nat), autocommit=True) as c:
                for sql in detach_subscription_sql(CODE):
                    c.execute(sql.encode())
        except psycopg.Error:
            pass


def _measure(
    p: province.Province, nat: pglocal.Server, root: Path, args: argparse.Namespace
) -> int:
    t = time.monotonic()
    engine = make_engine(p.write_url)
    fed = national.Province(CODE, pglocal.Server(root, p.write_port), engine)
    national._seed(fed, args.institutions, random.Random(37))
    with psycopg.connect(f"host=127.0.0.1 port={p.write_port} user=postgres "
                         f"dbname={province.DATABASE}", autocommit=True) as c:  # fmt: skip
        c.execute(national.PUBLICATION_SQL.read_text().encode())
    national_engine = national._migrated(nat.url)
    ndsn = national._dsn(nat)
    run_in_transaction(make_sessionmaker(national_engine), lambda s: s.add(_other()))
    other_before = _rows(ndsn, OTHER)
    leader_dsn = (f"host=127.0.0.1 port={p.write_port} user=postgres "
                  f"dbname={province.DATABASE}")  # fmt: skip
    pdsn = leader_dsn
    env = {**os.environ, "DATABASE_URL": nat.url, "LOG_LEVEL": "WARNING"}
    log = (root / "follower.log").open("ab")
    follower = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "national-follow", "--every", "1",
         "--province", f"{CODE}={leader_dsn}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    _FOLLOWERS.append(follower)
    print(f"seeded {args.institutions} institutions, national database and follower up in "
          f"{time.monotonic() - t:.0f} s", flush=True)  # fmt: skip

    def equal() -> bool:
        mine = _rows(pdsn, CODE)
        return bool(mine["national_provinces"]) and mine == _rows(ndsn, CODE)

    t = time.monotonic()
    pglocal.wait_until(lambda: _sync(ndsn) == ("following", "copied") and equal(), 180,
                       "the national database following the province")  # fmt: skip
    print(f"national database following the province, rollups equal: "
          f"{time.monotonic() - t:.1f} s after the follower started", flush=True)  # fmt: skip

    stop = threading.Event()
    written = {"ok": 0, "failed": 0}

    def writer() -> None:
        rng = random.Random(7)
        sessions = make_sessionmaker(engine)
        while not stop.is_set():
            inst = rng.choice(fed.institutions)
            amount = Decimal(rng.randrange(100, 10000)) / 100

            def one(s: Session, i: str = inst, a: Decimal = amount) -> None:
                national.deposit(s, fed, i, a, datetime.now(UTC))

            try:
                run_in_transaction(sessions, one)
                written["ok"] += 1
            except Exception:  # the failover: the writes wait for the new leader
                written["failed"] += 1
                time.sleep(0.5)
            time.sleep(1 / args.rate)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(20)  # the writes reach the national database before the kill
    old = p.leader()
    assert old is not None
    print(f"killing the leader {old.name} at {datetime.now(UTC):%H:%M:%S} UTC; {_uptime()}",
          flush=True)  # fmt: skip
    kill = time.monotonic()
    p.kill_node(old)
    marks: dict[str, float] = {}
    shown_stale = False
    deadline = kill + 300
    while time.monotonic() < deadline:
        now = time.monotonic() - kill
        new = p.leader()
        if "leader" not in marks and new is not None and new.name != old.name:
            marks["leader"] = now
        state = _sync(ndsn)
        if "resyncing" not in marks and state is not None and state[0] == "resyncing":
            marks["resyncing"] = now
            print(f"  resync: {state[1]}", flush=True)
        if "resyncing" in marks and "copied" not in marks and state == ("following", "copied"):
            marks["copied"] = now
        if state is not None and state[0] == "resyncing":
            with make_sessionmaker(national_engine)() as s:
                at = datetime.now(UTC)
                shown_stale = shown_stale or (
                    CODE in {r.province for r in view.resyncing(s)}
                    and CODE not in {line.row.province for line in view.provinces(s, now=at)}
                )
        if "copied" in marks:
            break
        time.sleep(0.5)
    # After the copy, the new subscription streams: a refresh the province's scheduler makes
    # on the new leader (its rows moved by the writes after the failover) reaches the
    # national database, and the rollups are the leader's, row for row.
    killed_at = datetime.now(UTC) - timedelta(seconds=time.monotonic() - kill)

    def streamed() -> bool:
        with psycopg.connect(ndsn) as c:
            row = c.execute("SELECT refreshed_at FROM national_provinces WHERE province = %s",
                            (CODE,)).fetchone()  # fmt: skip
        return row is not None and row[0] > killed_at + timedelta(seconds=marks.get("copied", 0))

    try:
        pglocal.wait_until(streamed, 120, "a refresh after the copy on the national database")
        marks["streamed"] = time.monotonic() - kill
    except TimeoutError as exc:
        print(f"  {exc}", flush=True)
    stop.set()
    thread.join(30)
    t = time.monotonic()
    try:
        pglocal.wait_until(equal, 120, "the rollups equal after the writes stopped")
        marks["equal_after_writes"] = time.monotonic() - kill
    except TimeoutError as exc:
        print(f"  {exc}", flush=True)
    caught = time.monotonic() - t
    other_after = _rows(ndsn, OTHER)
    new_leader = p.leader()
    print(f"killed {old.name}; new leader {new_leader.name if new_leader else None}")
    for name, what in (("leader", "kill to Patroni's new leader"),
                       ("resyncing", "kill to the province marked resynchronising"),
                       ("copied", "kill to the copy from the new leader complete"),
                       ("streamed", "kill to a refresh made after the copy arriving"),
                       ("equal_after_writes", "kill to the rollups equal to the leader's "
                                              "(writes stopped after that refresh)")):  # fmt: skip
        print(f"  {what}: {marks[name]:.1f} s" if name in marks else f"  {what}: NOT SEEN")
    print(f"  waited {caught:.1f} s for the refresh after the writes stopped")
    print(f"  the national workbench showed the province as resynchronising: {shown_stale}")
    print(f"  deposits written {written['ok']}, attempts failed (retried) {written['failed']}")
    rows = _rows(ndsn, CODE)
    print(f"  rows of {CODE} on the national database: "
          + ", ".join(f"{k} {len(v)}" for k, v in rows.items()))  # fmt: skip
    same_other = other_before == other_after and bool(other_after["national_provinces"])
    print(f"  the other province's row untouched: {same_other}")
    print(f"end {datetime.now(UTC):%H:%M:%S} UTC; {_uptime()}", flush=True)
    engine.dispose()
    national_engine.dispose()
    ok = shown_stale and same_other and {"streamed", "equal_after_writes"} <= set(marks)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
