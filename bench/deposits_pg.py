"""What PostgreSQL does per deposit batch: `deposits.receive_many` called in this process for
batches of 1,000 on a fresh database (`bench.deposits.setup`), with, per batch, the CPU of
the database backend serving it (read from /proc, so other databases on the machine do not
count, as they do in `bench/deposits.py`'s PostgreSQL line), this process's CPU, and the WAL
written; then, per table, the scans and updates (HOT or not), and, when the cluster preloads
pg_stat_statements, each statement's time, buffers and WAL per batch.

Run: .venv/bin/python bench/deposits_pg.py [--enrollments 26000] [--batches 24]
  [--sql "ALTER TABLE …"]  (statements run after setup, before the batches)
The database must be on this machine (the backend's CPU is read from /proc).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import psycopg_dsn, temporary_pg_database
from bench.deposits import setup
from service.flows import deposits
from service.kit.db import make_engine, make_sessionmaker
from service.registry.models import Bank

TICK = os.sysconf("SC_CLK_TCK")
TABLES = ("ledger_accounts", "ledger_transfers", "deposits", "enrollments", "institution_days",
          "ledger_balance_closes")  # fmt: skip
STATS = (
    "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),"
    " n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
)
TOP = (
    "SELECT calls, total_exec_time, rows, shared_blks_hit, shared_blks_dirtied, wal_bytes,"
    " wal_fpi, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_statements"
    " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " ORDER BY total_exec_time DESC LIMIT 12"
)


def cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def table_stats(mon: psycopg.Connection[Any]) -> dict[str, tuple[int, ...]]:
    mon.execute("SELECT pg_stat_clear_snapshot()")
    return {r[0]: tuple(r[1:]) for r in mon.execute(STATS).fetchall()}


def one_batch(
    sessions: Any, mon: psycopg.Connection[Any], bank_id: str, b: int, chunk: list[Any]
) -> tuple[float, float, float, int]:
    """(wall, this process's CPU, the backend's CPU, WAL bytes) of one batch, committed."""
    now = datetime.now(UTC)
    items = [
        deposits.DepositIn(bank_txn_id=f"B{b}-{k}", account_no=a, payment_reference=r,
                           amount=Decimal("200.00"), paid_at=now)
        for k, (a, r, _, _) in enumerate(chunk)
    ]  # fmt: skip
    with sessions() as s:
        pid = s.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        bank = s.get(Bank, bank_id)
        (lsn0,) = mon.execute("SELECT pg_current_wal_lsn()").fetchone() or (None,)
        c0, p0, w0 = cpu_of(pid), time.process_time(), time.perf_counter()
        out = deposits.receive_many(s, bank=bank, items=items, now=datetime.now(UTC))
        s.commit()
        w1, p1, c1 = time.perf_counter(), time.process_time(), cpu_of(pid)
    (wal,) = mon.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,)
    ).fetchone() or (0,)
    if not all(isinstance(o, deposits.DepositAnswer) and o.status == "posted" for o in out):
        raise SystemExit("a deposit of the batch was not posted")
    return w1 - w0, p1 - p0, c1 - c0, int(wal)


def report(mon: psycopg.Connection[Any], s0: dict[str, tuple[int, ...]], n: int) -> None:
    s1 = table_stats(mon)
    print("per batch, by table: seq_scan seq_tup_read idx_scan idx_tup_fetch upd hot_upd")
    for t in TABLES:
        if t in s0 and t in s1:
            d = [(y - x) / n for x, y in zip(s0[t], s1[t], strict=True)]
            print(f"  {t:24s}" + "".join(f"{v:11.1f}" for v in d))
    try:
        rows = mon.execute(TOP).fetchall()
    except psycopg.Error:
        print("(pg_stat_statements is not preloaded in this cluster: no statements)")
        return
    print("pg_stat_statements per batch: calls, ms, rows, buffers hit, dirtied, kB WAL, FPI")
    for c, t, r, h, d, wb, fpi, q in rows:
        print(f"  {c / n:5.1f} {t / n:7.2f} {r / n:6.0f} {h / n:7.0f} {d / n:5.0f}"
              f" {float(wb) / n / 1e3:6.0f} {fpi / n:4.0f}  {q}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--enrollments", type=int, default=26_000)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--sql", action="append", default=[], help="run after setup")
    args = ap.parse_args()
    with temporary_pg_database("tg_bench_dpg") as url:
        bank_id, _, enrolled = setup(url, args.enrollments)  # with VACUUM ANALYZE
        mon = psycopg.connect(psycopg_dsn(url), autocommit=True)
        for q in args.sql:
            mon.execute(q)
        try:
            mon.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            mon.execute("SELECT pg_stat_statements_reset()")
        except psycopg.Error:
            pass
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        start = len(enrolled) - args.batches * 1000
        s0 = table_stats(mon)
        runs = []
        for b in range(args.batches):
            chunk = enrolled[start + b * 1000 : start + (b + 1) * 1000]
            runs.append(one_batch(sessions, mon, bank_id, b, chunk))
            w, p, c, wal = runs[-1]
            print(f"batch {b:3d}: wall {w * 1e3:6.0f} ms  Python {p * 1e3:5.0f} ms  "
                  f"PostgreSQL backend {c * 1e3:5.0f} ms  WAL {wal / 1e6:5.2f} MB", flush=True)  # fmt: skip
        half = args.batches // 2
        for label, part in (("first half", runs[:half]), ("second half", runs[half:])):
            m = max(1, len(part))
            print(f"{label}: wall {sum(r[0] for r in part) / m * 1e3:.0f} ms, Python "
                  f"{sum(r[1] for r in part) / m * 1e3:.0f} ms, PostgreSQL backend "
                  f"{sum(r[2] for r in part) / m * 1e3:.0f} ms, WAL "
                  f"{sum(r[3] for r in part) / m / 1e6:.2f} MB a batch")  # fmt: skip
        report(mon, s0, args.batches)
        mon.close()
        engine.dispose()


if __name__ == "__main__":
    main()
