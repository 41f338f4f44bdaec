"""The workbench's pages at 10,000 institutions with a year of history, on PostgreSQL.

Builds (set-based SQL, as bench/sweep.py does) N institutions with their enrollments, daily
statements, rollups, complaints, refunds and ledger transfers over D days; gives their
accounts balances; runs a real sweep (so each institution has its current risk and the
districts their day) and adds a year of evaluations and district days behind it. Then serves
the service as a process of its own and, signed in as the province's regulator (every
institution in scope), times each page from one client over loopback, beside `/healthz` from
the same client in the same run (the baseline: what any request costs).

Run: .venv/bin/python bench/workbench.py [--institutions 10000 --enrollments 200000
     --transfers 1000000 --days 365 --requests 40]
Goal (issue: the regulator's workbench): the overview and a sorted, filtered institutions
page under 200 ms at p95.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from bench.common import pct, psycopg_dsn, temporary_pg_database
from bench.sweep import base, history
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.registry.credentials import create_regulator
from service.risk.sweep import sweep
from service.tables import load_reference

SECRET = "bench-secret-0123456789abcdef"  # noqa: S105 - a throwaway database


def balances(cur: psycopg.Cursor, n: int) -> None:
    """Escrow between 0 and 200,000 yuan, a share of it earned; every account's suspense and
    reserve opened empty, as onboarding opens them."""
    cur.execute(
        """
      UPDATE ledger_accounts SET debits_posted = (hashtext(id) & 65535) * 3.05
      WHERE kind = 'escrow_cash'"""
    )
    cur.execute(
        """
      UPDATE ledger_accounts SET credits_posted = (hashtext(id) & 4095) * 2.50
      WHERE kind = 'earned'"""
    )
    cur.execute(
        """
      INSERT INTO ledger_accounts (id, ledger, kind, owner, currency, debits_posted, credits_posted,
        debits_pending, credits_pending, debits_must_not_exceed_credits,
        credits_must_not_exceed_debits, closed, created_at, last_at)
      SELECT 'acc_' || k || '_' || i, 'inst_' || i, k, 'inst_' || i, 'CNY', 0, 0, 0, 0, false,
             false, false, now() - interval '10 years', now() - interval '10 years'
      FROM generate_series(1, %s) i, unnest(ARRAY['suspense', 'reserve']) k""",
        (n,),
    )


def year_behind(cur: psycopg.Cursor, days: int) -> None:
    """A year of daily evaluations per institution and of district days, behind the sweep's."""
    cur.execute(
        """
      INSERT INTO risk_evaluations (id, institution_id, as_of, score, level, indicators,
        created_at)
      SELECT 'rev_' || r.institution_id || '_' || d, r.institution_id,
             r.as_of - make_interval(days => d), greatest(r.score - d %% 7, 0),
             CASE WHEN greatest(r.score - d %% 7, 0) >= 60 THEN 'critical'
                  WHEN greatest(r.score - d %% 7, 0) >= 40 THEN 'high'
                  WHEN greatest(r.score - d %% 7, 0) >= 20 THEN 'medium' ELSE 'low' END,
             '[]', r.as_of - make_interval(days => d)
      FROM institution_risk r, generate_series(1, %s - 1) d""",
        (days,),
    )
    cur.execute(
        """
      INSERT INTO district_days (region_code, day, low, medium, high, critical, escrow,
        bank_balance, owed)
      SELECT region_code, day - d, low, medium, high, critical, escrow * (1 - d / 1000.0),
             bank_balance * (1 - d / 1000.0), owed * (1 - d / 1000.0)
      FROM district_days, generate_series(1, %s - 1) d
      ON CONFLICT DO NOTHING""",
        (days,),
    )


def build(url: str, args: argparse.Namespace) -> str:
    """The database; returns the province regulator's token."""
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    now = datetime.now(UTC)
    run_in_transaction(sessions, lambda s: load_reference(s, now=now))
    n = args.institutions
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # bulk load: no FK triggers
        base(cur, n)
        history(cur, 1, n, args.enrollments, args.transfers, args.days, 0)
        balances(cur, n)
        cur.execute("ANALYZE")
    run_in_transaction(sessions, lambda s: sweep(s, as_of=now, now=now))
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn, conn.cursor() as cur:
        year_behind(cur, args.days)
        cur.execute("ANALYZE")
    issued = run_in_transaction(
        sessions, lambda s: create_regulator(s, name="bench", region_code="220000", now=now)
    )
    return issued.credential


@contextmanager
def _database(keep: str | None) -> Iterator[str]:
    if keep:
        yield keep
        return
    with temporary_pg_database("tg_bench_workbench") as url:
        yield url


def _built(url: str) -> bool:
    try:
        with psycopg.connect(psycopg_dsn(url)) as conn:
            return bool(conn.execute("SELECT count(*) FROM institution_risk").fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return False


def _regulator(url: str) -> str:
    sessions = make_sessionmaker(make_engine(url))
    issued = run_in_transaction(
        sessions,
        lambda s: create_regulator(s, name="bench", region_code="220000", now=datetime.now(UTC)),
    )
    return issued.credential


@contextmanager
def served(url: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET, "LOG_SIGNING_KEY": "ab" * 32, "ENVIRONMENT": "test",
           "SCHEDULER_ENABLED": "false", "LOG_LEVEL": "WARNING",
           "RATE_LIMIT_PER_SECOND": "0"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base_url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base_url
    finally:
        server.terminate()
        server.wait(10)


def signed_in(base_url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    client.get("/workbench/sign-in")
    client.post(
        "/workbench/sign-in",
        data={"token": token, "csrf": client.cookies["tg_csrf"], "next": "/workbench"},
    )
    assert "tg_session" in client.cookies, "sign-in failed"
    return client


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    client.get(path)  # warm: the first request of a path compiles its queries and templates
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--institutions", type=int, default=10_000)
    ap.add_argument("--enrollments", type=int, default=200_000)
    ap.add_argument("--transfers", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--keep", metavar="URL", help="build into this database once, and reuse it")
    args = ap.parse_args()
    with _database(args.keep) as url:
        t0 = time.perf_counter()
        token = build(url, args) if not _built(url) else _regulator(url)
        print(f"built {args.institutions:,} institutions with {args.days} days of history "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip
        with served(url) as base_url:
            client = signed_in(base_url, token)
            pages = {
                "/healthz (baseline)": "/healthz",
                "overview": "/workbench",
                "institutions, by score": "/workbench/institutions?sort=score",
                "institutions, by score, high, one district": (
                    "/workbench/institutions?sort=score&level=high&district=220102"
                ),
                "institutions, by escrow, a middle page": (
                    f"/workbench/institutions?sort=escrow&page={max(1, args.institutions // 100)}"
                ),
                "institutions, searched by name": "/workbench/institutions?q=bench%20777",
                "one institution's file": f"/workbench/institutions/inst_{args.institutions // 2}",
                "case queue": "/workbench/alerts",
            }
            results = {name: timed(client, path, args.requests) for name, path in pages.items()}
            client.close()
    healthz = pct(results["/healthz (baseline)"], 95)
    print(f"p50 and p95 over {args.requests} requests each, ms (ratio: p95 / healthz p95):")
    for name, ms in results.items():
        print(f"  {name:<46} {pct(ms, 50):8.1f} {pct(ms, 95):8.1f}   "
              f"x{pct(ms, 95) / healthz:6.1f}")  # fmt: skip
    worst = max(pct(results[k], 95) for k in results if k.startswith(("overview", "institutions")))
    print(f"goal: overview and institutions pages under 200 ms at p95: "
          f"{'met' if worst < 200 else 'NOT met'} (worst {worst:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
