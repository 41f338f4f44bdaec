"""A full risk sweep at scale on PostgreSQL, timed at one history and again at twice it.

Builds, with set-based SQL in a fresh database, N institutions with E enrollments, their
courses and sessions, lessons, deposits, refunds, statements, daily rollups, complaints and T
ledger transfers spread over D days; times `sweep` over every institution; then adds as much
history again (older, same institutions) and times it again. The sweep reads only its windows,
so the second time should be close to the first (each the median of `--repeat` sweeps).
Baseline in the same run: one GROUP BY scan of the ledger's transfers (what a sweep that read
the ledger would pay at least once).

Run: .venv/bin/python bench/sweep.py [--institutions 10000 --enrollments 1000000
     --transfers 10000000 --days 365 --repeat 3]
     [--baseline COMMIT --rounds 3]  (this tree against an earlier commit's sweep, on the same
     database: no history added, the two trees' sweeps interleaved, see `compare`)
The generated rows are shaped like real ones but are not a valid ledger (no hash chain); only
the risk sweep is measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import machine_speed, psycopg_dsn, temporary_pg_database
from service.kit.db import make_engine, make_sessionmaker
from service.kit.migrate import upgrade
from service.risk.sweep import sweep

ROOT = Path(__file__).resolve().parent.parent
REGIONS = "ARRAY['220102','220103','220104','220402','220403','220302','220322','220421']"


def base(cur: psycopg.Cursor, n: int) -> None:
    cur.execute("""INSERT INTO banks (id, name, code, secret_ciphertext, instruction_url, created_at)
                   VALUES ('bank_b', 'bench', 'BENCH', 'x', NULL, now())""")
    cur.execute(
        f"""
      INSERT INTO institutions (id, name, credit_code, region_code, category, supervision_mode, bank_id,
        escrow_account_no, operating_account_no, reserve_account_no, status, legal_person, address,
        api_key_hash, created_at)
      SELECT 'inst_' || i, 'bench ' || i, lpad(i::text, 18, '0'), ({REGIONS})[1 + i %% 8], 'subject',
             'custody', 'bank_b', 'E' || i, 'O' || i, NULL, 'active', NULL, NULL, md5(i::text),
             now() - interval '10 years'
      FROM generate_series(1, %s) i""",
        (n,),
    )
    cur.execute(
        """
      INSERT INTO ledger_accounts (id, ledger, kind, owner, currency, debits_posted, credits_posted,
        debits_pending, credits_pending, debits_must_not_exceed_credits, credits_must_not_exceed_debits,
        closed, created_at, last_at)
      SELECT 'acc_' || k || '_' || i, 'inst_' || i, k, 'inst_' || i, 'CNY', 0, 0, 0, 0, false, false, false,
             now() - interval '10 years', now() - interval '10 years'
      FROM generate_series(1, %s) i, unnest(ARRAY['escrow_cash', 'earned']) k""",
        (n,),
    )


def history(cur: psycopg.Cursor, g: int, n: int, e: int, t: int, days: int, offset: int) -> None:
    """One generation of history: the `days` days ending `offset` days ago."""
    periods = max(1, days // 30)
    p = {"g": g, "n": n, "e": e, "t": t, "days": days, "off": offset, "periods": periods}
    start = "(now() - make_interval(days => %(off)s + %(days)s))"
    cur.execute(
        f"""
      INSERT INTO courses (id, institution_id, title, subject, category, grade_band, mode, class_size,
        lesson_minutes, lessons_total, price_per_lesson, list_price_per_lesson, status, violations,
        price_check, filed_at)
      SELECT format('crs_g%%s_%%s_%%s', %(g)s, i, q), 'inst_' || i, 'c', 'math', 'subject', 'junior',
             'offline', 20, 45, 40, 20.00, NULL, 'approved', '[]', '{{}}',
             {start} + make_interval(days => q * 30)
      FROM generate_series(1, %(n)s) i, generate_series(0, %(periods)s - 1) q""",
        p,
    )
    cur.execute(
        f"""
      INSERT INTO course_sessions (course_id, seq, starts_at, ends_at)
      SELECT format('crs_g%%s_%%s_%%s', %(g)s, i, q), s,
             {start} + make_interval(days => q * 30, hours => 16) + s * interval '18 hours',
             {start} + make_interval(days => q * 30, hours => 16) + s * interval '18 hours' + interval '45 min'
      FROM generate_series(1, %(n)s) i, generate_series(0, %(periods)s - 1) q, generate_series(1, 40) s""",
        p,
    )
    cur.execute(
        f"""
      INSERT INTO enrollments (id, institution_id, course_id, student_ref, lessons, first_session_seq,
        last_session_seq, amount_due, list_amount, amount_paid, lessons_consumed, amount_consumed,
        lessons_refunded, amount_refunded, payment_reference, access_code_hash, status, enrolled_at, paid_at)
      SELECT format('enr_g%%s_%%s', %(g)s, k), 'inst_' || (1 + k %% %(n)s),
             format('crs_g%%s_%%s_%%s', %(g)s, 1 + k %% %(n)s, (k / %(n)s) %% %(periods)s),
             's', 20, 1, 20, 400.00, 400.00, 400.00, 6, 120.00, 0, 0, format('g%%s-%%s', %(g)s, k), 'x',
             'active', {start} + make_interval(days => ((k / %(n)s) %% %(periods)s) * 30 + 1),
             {start} + make_interval(days => ((k / %(n)s) %% %(periods)s) * 30 + 1)
      FROM generate_series(1, %(e)s) k""",
        p,
    )
    cur.execute(
        """
      INSERT INTO consumptions (id, enrollment_id, institution_id, lessons, amount, occurred_at, reported_at,
        confirm_until, session_ref, status, dispute_reason, release_instruction_id)
      SELECT format('con_%%s_%%s', e.id, j), e.id, e.institution_id, 2, 40.00,
             e.paid_at + make_interval(days => 7 * j), e.paid_at + make_interval(days => 7 * j),
             e.paid_at + make_interval(days => 7 * j + 7), NULL, 'pending', NULL, NULL
      FROM enrollments e, generate_series(1, 3) j WHERE e.id LIKE %(like)s""",
        {"like": f"enr_g{g}_%"},
    )
    cur.execute(
        """
      INSERT INTO deposits (id, bank_id, bank_txn_id, request_hash, account_no, institution_id,
        payment_reference, amount, paid_at, received_at, status, reason, target, enrollment_id, resolved_at)
      SELECT 'dep_' || e.id, 'bank_b', 'T' || e.id, 'x', 'E' || substr(e.institution_id, 6), e.institution_id,
             e.payment_reference, 400.00, e.paid_at, e.paid_at, 'posted', NULL, 'escrow', e.id, NULL
      FROM enrollments e WHERE e.id LIKE %(like)s""",
        {"like": f"enr_g{g}_%"},
    )
    cur.execute(
        """
      INSERT INTO refunds (id, enrollment_id, institution_id, lessons, amount, status, reason, requested_at,
        respond_by, answered_at, escalated, instruction_id)
      SELECT 'ref_' || e.id, e.id, e.institution_id, 14, 280.00, 'paid', 'x', e.paid_at + interval '20 days',
             e.paid_at + interval '25 days', e.paid_at + interval '21 days', false, NULL
      FROM enrollments e WHERE e.id LIKE %(like)s AND hashtext(e.id) %% 20 = 0""",
        {"like": f"enr_g{g}_%"},
    )
    cur.execute(
        """
      INSERT INTO refund_events (id, refund_id, seq, status, at, note)
      SELECT r.id || '_' || s.n, r.id, s.n, s.st, r.requested_at + make_interval(days => s.n), NULL
      FROM refunds r, (VALUES (1, 'requested'), (2, 'accepted'), (3, 'paid')) s(n, st)
      WHERE r.id LIKE %(like)s""",
        {"like": f"ref_enr_g{g}_%"},
    )
    cur.execute(
        f"""
      INSERT INTO statements (id, bank_id, institution_id, account_no, statement_date, opening_balance,
        closing_balance, ledger_balance, request_hash, status, received_at)
      SELECT format('stm_g%%s_%%s_%%s', %(g)s, i, d), 'bank_b', 'inst_' || i, 'E' || i,
             to_char({start} + make_interval(days => d), 'YYYY-MM-DD'), 1000, 1000, 1000, 'x', 'matched',
             {start} + make_interval(days => d, hours => 23)
      FROM generate_series(1, %(n)s) i, generate_series(0, %(days)s - 1) d""",
        p,
    )
    cur.execute(
        f"""
      INSERT INTO institution_days (institution_id, day, deposits_amount, deposits_count, enrollments_paid,
        lessons_consumed, refund_requests, complaints, prepaid_delta)
      SELECT 'inst_' || i, ({start} + make_interval(days => d))::date, 400.00 * (i %% 3), i %% 3, i %% 3,
             2 + 2 * (i %% 4), (i + d) %% 11 / 10, (i + d) %% 31 / 30, 0
      FROM generate_series(1, %(n)s) i, generate_series(0, %(days)s - 1) d
      ON CONFLICT DO NOTHING""",
        p,
    )
    cur.execute(
        f"""
      INSERT INTO complaints (id, institution_id, enrollment_id, category, text, created_at)
      SELECT format('cmp_g%%s_%%s_%%s', %(g)s, i, q), 'inst_' || i, NULL, 'other', 'x',
             {start} + make_interval(days => q * 30 + 3)
      FROM generate_series(1, %(n)s) i, generate_series(0, %(periods)s - 1) q""",
        p,
    )
    cur.execute(
        f"""
      INSERT INTO ledger_transfers (id, ledger, chain_seq, debit_account_id, credit_account_id, amount, kind,
        code, pending_id, expires_at, reference, idempotency_key, content_hash, created_at, prev_hash, hash)
      SELECT format('tr_g%%s_%%s', %(g)s, t), 'inst_' || (1 + t %% %(n)s), %(g)s * 100000000 + t / %(n)s,
             'acc_escrow_cash_' || (1 + t %% %(n)s), 'acc_earned_' || (1 + t %% %(n)s), 12.34, 'posted',
             'deposit', NULL, NULL, NULL, NULL, md5(t::text), {start} + (t::float / %(t)s) * make_interval(days => %(days)s),
             md5((t - 1)::text), md5(t::text)
      FROM generate_series(1, %(t)s) t""",
        p,
    )


def timed_sweep(url: str) -> tuple[float, dict[str, object]]:
    sessions = make_sessionmaker(make_engine(url))
    session = sessions()
    now = datetime.now(UTC)
    try:
        t0 = time.perf_counter()
        out = sweep(session, as_of=now, now=now)
        elapsed = time.perf_counter() - t0
    finally:
        session.rollback()  # the same database for the second timing
        session.close()
    return elapsed, out


def repeated_sweep(url: str, times: int, label: str) -> tuple[float, dict[str, Any]]:
    """The median of `times` sweeps: the first after a bulk load can be slowed by the server
    writing it out, and this machine's speed drifts (each run prints the reference work)."""
    runs = [timed_sweep(url) for _ in range(max(1, times))]
    seconds = [r[0] for r in runs]
    print(f"  sweeps at {label}: {', '.join(f'{x:.2f}' for x in seconds)} s; "
          f"machine: {machine_speed():.0f} ms", flush=True)  # fmt: skip
    return statistics.median(seconds), runs[-1][1]


# One sweep of every institution, timed in a process of its own with the code of the tree on
# PYTHONPATH (so a baseline commit's sweep runs its own code against the same database).
ONE_SWEEP = """
import json, sys, time
from datetime import UTC, datetime
from service.kit.db import make_engine, make_sessionmaker
from service.risk.sweep import sweep
session = make_sessionmaker(make_engine(sys.argv[1]))()
now = datetime.now(UTC)
t0 = time.perf_counter()
out = sweep(session, as_of=now, now=now)
seconds = time.perf_counter() - t0
session.rollback()
print(json.dumps({"seconds": seconds, "levels": out["levels"]}))
"""


def sweep_in(tree: Path, url: str) -> tuple[float, dict[str, int]]:
    """Seconds one sweep takes with `tree`'s code (a process of its own, the sweep alone
    timed: imports and the engine's start are not), and the levels it reached."""
    env = {**os.environ, "PYTHONPATH": str(tree), "ENVIRONMENT": "development"}
    done = subprocess.run(
        [sys.executable, "-c", ONE_SWEEP, url], cwd=tree, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return float(out["seconds"]), out["levels"]


def compare(url: str, baseline: str, rounds: int) -> None:
    """This tree's sweep against `baseline`'s on the same database, interleaved: each round
    runs both, the order alternating (B H, H B, ...), so a machine whose speed drifts (a
    shared one does) weighs on both alike. The ratio is this tree's median over the
    baseline's, and each round's own ratio is printed beside it."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        base_tree = Path(tmp) / f"base-{baseline[:12]}"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(base_tree),
             baseline], check=True, capture_output=True,
        )  # fmt: skip
        try:
            ours, theirs = [], []
            for r in range(max(1, rounds)):
                order = [("base", base_tree), ("head", ROOT)]
                for who, tree in order if r % 2 == 0 else order[::-1]:
                    seconds, lv = sweep_in(tree, url)
                    (theirs if who == "base" else ours).append(seconds)
                    print(f"  round {r + 1} {who:<4} {seconds:7.2f} s   levels {lv}", flush=True)
                print(f"  round {r + 1} ratio this tree / baseline "
                      f"{ours[-1] / theirs[-1]:5.2f}", flush=True)  # fmt: skip
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                check=False,
            )
    h, b = statistics.median(ours), statistics.median(theirs)
    print(f"  median: this tree {h:.2f} s, baseline {baseline} {b:.2f} s; "
          f"ratio {h / b:.3f} (goal of issue 35: at most 1.15); machine: "
          f"{machine_speed():.0f} ms", flush=True)  # fmt: skip


def group_by_scan(dsn: str) -> float:
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        conn.execute(
            "SELECT ledger, count(*), sum(amount) FROM ledger_transfers GROUP BY ledger"
        ).fetchall()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--institutions", type=int, default=10_000)
    ap.add_argument("--enrollments", type=int, default=1_000_000)
    ap.add_argument("--transfers", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=3, help="sweeps timed at each size (median)")
    ap.add_argument("--baseline", help="a commit whose sweep is timed beside this tree's")
    ap.add_argument("--rounds", type=int, default=3, help="with --baseline: rounds of both")
    args = ap.parse_args()
    n, e, t, d = args.institutions, args.enrollments, args.transfers, args.days
    with temporary_pg_database("tg_bench_sweep") as url:
        upgrade(url)
        dsn = psycopg_dsn(url)
        with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")  # bulk load: no FK triggers
            t0 = time.perf_counter()
            base(cur, n)
            history(cur, 1, n, e, t, d, 0)
            cur.execute("ANALYZE")
            print(
                f"built {n:,} institutions, {e:,} enrollments, {t:,} transfers over {d} days "
                f"in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        if args.baseline:
            compare(url, args.baseline, args.rounds)
            return
        scan1 = group_by_scan(dsn)
        first, out = repeated_sweep(url, args.repeat, "1x")
        print(f"  sweep at 1x history      {first:7.2f} s   levels {out['levels']}", flush=True)
        print(f"  baseline GROUP BY scan of ledger_transfers {scan1:7.2f} s", flush=True)
        with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            t0 = time.perf_counter()
            history(cur, 2, n, e, t, d, d)
            cur.execute("ANALYZE")
            print(
                f"added as much history again (older) in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        scan2 = group_by_scan(dsn)
        second, _ = repeated_sweep(url, args.repeat, "2x")
        print(f"  sweep at 2x history      {second:7.2f} s", flush=True)
        print(f"  baseline GROUP BY scan at 2x {scan2:7.2f} s", flush=True)
        print("ratios:")
        print(f"  sweep 2x / 1x                {second / first:6.2f}   (goal: under 1.15)")
        print(f"  sweep 1x / GROUP BY scan 1x  {first / scan1:6.2f}")
        print(f"  goal: under 30 s             {'met' if max(first, second) < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
