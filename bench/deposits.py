"""Signed deposits through the HTTP API on PostgreSQL, against a trivial signed endpoint.

In one run on a fresh database, with the service as a real process on 127.0.0.1:
  1. baseline: GET /api/v1/bank/whoami (signature check and one lookup), 32 concurrent clients;
  2. in turns (`--rounds`, `--seconds` each), 32 concurrent clients each: the baseline
     GET /healthz (no database); POST /api/v1/bank/deposits, one deposit per request; and
     POST /api/v1/enrollments/{id}/consumptions, a lesson reported on each enrollment paid so
     far (the courses and enrollments are set up a week back, so lessons have been held by
     now at any hour of any day);
  3. POST /api/v1/bank/deposits/batch, 1,000 deposits per request.
Every deposit matches an enrollment awaiting payment, so each is posted to the ledger.

Run: .venv/bin/python bench/deposits.py [--seconds 10] [--rounds 3] [--batches 20] [--singles N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from bench.common import machine_speed, pct, psycopg_dsn, temporary_pg_database
from service.bank_gateway.signing import signed_headers
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction

SECRET_KEY = "bench-secret-key-0123456789"  # noqa: S105 - a throw-away database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(url: str, enrollments: int) -> tuple[str, str, list[tuple[str, str, str, str]]]:
    """A bank, 20 institutions, one course each, and `enrollments` awaiting payment: (escrow
    account, payment reference, enrollment id, the institution's API key) each. All of it as
    of a week ago (the courses' first lesson that day, 16:00 Beijing, a lesson each school day
    since), so that a lesson reported now, at whatever hour, is one the timetable has held."""
    from service.config import Settings
    from service.flows import enrollments as enr
    from service.flows import onboarding
    from service.kit.migrate import upgrade
    from service.registry import institutions
    from service.registry.credentials import create_bank
    from service.registry.identifiers import make_credit_code
    from service.registry.models import Regulator
    from service.tables import load_reference
    from tests.factories import file_maths_course

    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    now = datetime.now(UTC) - timedelta(days=7)
    run_in_transaction(sessions, lambda s: load_reference(s, now=now))
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url=url, secret_key=SECRET_KEY
    )

    def build(s):  # type: ignore[no-untyped-def]
        bank = create_bank(
            s, name="bench", code="BENCH", instruction_url=None, secret_key=SECRET_KEY, now=now
        )
        reg = Regulator(
            id="reg_bench", name="bench", region_code="220000", token_hash="x" * 64, created_at=now
        )
        s.add(reg)
        s.flush()
        out = []
        insts = []
        for i in range(20):
            inst, key = onboarding.register_institution(
                s,
                regulator=reg,
                now=now,
                data=institutions.NewInstitution(
                    name=f"bench {i}",
                    credit_code=make_credit_code("52", "220102", f"BN{i:06d}"),
                    region_code="220102",
                    category="subject",
                    supervision_mode="custody",
                    bank_id=bank.id,
                    escrow_account_no=f"BE{i:08d}",
                    operating_account_no=f"BO{i:08d}",
                ),
            )
            course = file_maths_course(s, inst, now=now, sessions=40)
            insts.append((inst, course, key))
        for k in range(enrollments):
            inst, course, key = insts[k % len(insts)]
            e = enr.create(
                s,
                institution=inst,
                course_id=course.id,
                student_ref=f"s{k}",
                lessons=10,
                amount=Decimal("200.00"),
                now=now,
                settings=settings,
            )
            out.append(
                (inst.escrow_account_no, e.enrollment.payment_reference, e.enrollment.id, key)
            )
        return bank.id, bank.credential, out

    made = run_in_transaction(sessions, build)
    # Statistics, as a live database has them (autovacuum gathers them; this machine's cluster
    # runs without it). With none, the planner takes every table for small and tells indexes
    # apart by size alone: it found a batch's 1,100 accounts by natural key through the
    # (kind, ledger) index, every prepaid account of the institution read for each, so the
    # database's time per batch of 1,000 grew with the accounts opened, from 130 to 450 ms of
    # CPU over 24 batches at 26,000 enrollments (80 ms throughout with statistics).
    with psycopg.connect(psycopg_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return made


async def load(
    base: str,
    bank: str,
    secret: str,
    requests: list[tuple[str, str, bytes, str | None]],
    clients: int,
    seconds: float | None,
) -> tuple[int, list[float], float]:
    """Send `requests` with `clients` concurrent workers; returns (done, latencies, elapsed)."""
    latencies: list[float] = []
    queue = list(reversed(requests))
    deadline = time.perf_counter() + seconds if seconds else None
    failures = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while queue and (deadline is None or time.perf_counter() < deadline):
            method, path, body, key = queue.pop()
            headers = (
                {"Authorization": f"Bearer {key}"}
                if key  # an institution's request
                else signed_headers(
                    secret,
                    bank_id=bank,
                    timestamp=int(time.time()),
                    method=method,
                    path_and_query=path,
                    body=body,
                )
            )
            headers["content-type"] = "application/json"
            t0 = time.perf_counter()
            r = await client.request(method, base + path, content=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            if r.status_code >= 300:
                failures += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{failures} requests failed")
    return len(latencies), latencies, elapsed


def deposit(txn: str, account: str, ref: str) -> dict[str, str]:
    return {
        "bank_txn_id": txn,
        "account_no": account,
        "payment_reference": ref,
        "amount": "200.00",
        "paid_at": datetime.now(UTC).isoformat(),
    }


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of every process on this machine, by command name
    (Linux's /proc; empty elsewhere): the server's and PostgreSQL's share of a phase."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_used(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """CPU a phase used in processes called `name` (those that ended during it are missed)."""
    return max(0.0, after.get(name, 0.0) - before.get(name, 0.0))


def report(label: str, n: int, lat: list[float], elapsed: float, unit: str = "req") -> float:
    rate = n / elapsed
    print(
        f"  {label:<44} {rate:9,.0f} {unit}/s   p50 {pct(lat, 50) * 1000:7.1f} ms   "
        f"p99 {pct(lat, 99) * 1000:7.1f} ms   ({n:,} in {elapsed:.1f} s)",
        flush=True,
    )
    return rate


def lesson_reports(
    paid: list[tuple[str, str, str, str]],
) -> list[tuple[str, str, bytes, str | None]]:
    """One lesson reported on each enrollment paid, by its institution
    (`POST /enrollments/{id}/consumptions`), held now: the enrollments were made a week ago,
    so their first sessions are behind us whatever the hour."""
    occurred = datetime.now(UTC)
    return [
        (
            "POST",
            f"/api/v1/enrollments/{enrollment}/consumptions",
            json.dumps({"lessons": 1, "occurred_at": occurred.isoformat()}).encode(),
            key,
        )
        for _, _, enrollment, key in paid
    ]


class Phase:
    """Requests sent in turns with the other phases: counts and latencies summed."""

    def __init__(self, label: str) -> None:
        self.label, self.done, self.elapsed = label, 0, 0.0
        self.latencies: list[float] = []

    def run(self, base: str, bank: str, secret: str, requests: list[Any], args: Any) -> int:
        n, lat, el = asyncio.run(load(base, bank, secret, requests, args.clients, args.seconds))
        self.done, self.elapsed = self.done + n, self.elapsed + el
        self.latencies += lat
        return n

    def rate(self) -> float:
        return report(self.label, self.done, self.latencies, self.elapsed)


def interleaved(
    base: str, bank: str, secret: str, enrolled: list[tuple[str, str, str, str]], args: Any
) -> tuple[float, float, float]:
    """/healthz, single deposits and lesson reports (on the enrollments paid so far) in turns,
    `--rounds` times `--seconds` each, so a shared machine's changing speed falls on all
    three alike: (/healthz, deposits, lessons) a second."""
    health = [("GET", "/healthz", b"", None)] * 1_000_000
    singles = [
        ("POST", "/api/v1/bank/deposits", json.dumps(deposit(f"S{k}", a, r)).encode(), None)
        for k, (a, r, _, _) in enumerate(enrolled)
    ]
    phases = {k: Phase(k) for k in ("GET /healthz", "single deposits", "lesson reports")}
    sent = reported = 0
    for _ in range(args.rounds):
        phases["GET /healthz"].run(base, bank, secret, health, args)
        sent += phases["single deposits"].run(base, bank, secret, singles[sent:], args)
        reports = lesson_reports(enrolled[reported:sent])  # answered in order, all of them
        if reports:
            reported += phases["lesson reports"].run(base, bank, secret, reports, args)
    health_rate, single_rate, lesson_rate = (p.rate() if p.done else 0.0 for p in phases.values())
    return health_rate, single_rate, lesson_rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--singles", type=int, default=12_000, help="enrollments for singles")
    ap.add_argument("--rounds", type=int, default=3, help="turns of /healthz, singles, lessons")
    args = ap.parse_args()
    single_budget = args.singles
    with temporary_pg_database("tg_bench_dep") as url:
        t0 = time.perf_counter()
        bank, secret, enrolled = setup(url, single_budget + args.batches * 1000)
        print(
            f"setup: {len(enrolled):,} enrollments in {time.perf_counter() - t0:.0f} s", flush=True
        )
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ENVIRONMENT": "test",
            "SECRET_KEY": SECRET_KEY,
            # The public log's key: outside development the placeholder is refused at start.
            "LOG_SIGNING_KEY": "ab" * 32,
            "SCHEDULER_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_PER_SECOND": "0",  # the load generator is the only caller
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service.cli",
                "serve",
                "--port",
                str(port),
                "--no-scheduler",
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                if server.poll() is not None:
                    raise SystemExit(f"the server exited ({server.returncode}) before it was ready")
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            print(
                f"deposit ingestion on PostgreSQL, {args.clients} concurrent clients, "
                f"{args.workers} uvicorn worker process(es); machine speed "
                f"{machine_speed():.0f} ms (a fixed piece of work; lower is faster)"
            )
            who = [("GET", "/api/v1/bank/whoami", b"", None)] * 1_000_000
            n, lat, el = asyncio.run(load(base, bank, secret, who, args.clients, args.seconds))
            base_rate = report("baseline: signed GET /bank/whoami", n, lat, el)
            health_rate, single_rate, lesson_rate = interleaved(
                base, bank, secret, enrolled[:single_budget], args
            )
            rest = enrolled[single_budget:]
            batches = [
                (
                    "POST",
                    "/api/v1/bank/deposits/batch",
                    json.dumps(
                        {
                            "deposits": [
                                deposit(f"B{b}-{k}", acct, ref)
                                for k, (acct, ref, _, _) in enumerate(
                                    rest[b * 1000 : (b + 1) * 1000]
                                )
                            ]
                        }
                    ).encode(),
                    None,
                )
                for b in range(args.batches)
            ]
            before, mine = cpu_seconds(), time.process_time()
            n, lat, el = asyncio.run(load(base, bank, secret, batches, 2, None))
            after, mine = cpu_seconds(), time.process_time() - mine
            batch_rate = report(
                "batches of 1,000 (POST /bank/deposits/batch)", n * 1000, lat, el, "deposit"
            )
            if after:
                # Every Python process counts (run nothing else beside it): the server's
                # workers and this load generator, whose own share is known.
                served = cpu_used(before, after, "python") - mine
                pg = cpu_used(before, after, "postgres")
                print(
                    f"  CPU per batch: server {served / n * 1000:.0f} ms, PostgreSQL "
                    f"{pg / n * 1000:.0f} ms, load generator {mine / n * 1000:.0f} ms "
                    f"(2 cores: {2 * el / n * 1000:.0f} ms of CPU time per batch at this rate)"
                )
            print(f"  machine speed after the run: {machine_speed():.0f} ms")
            print("ratios:")
            print(
                f"  single deposits / trivial endpoint   {single_rate / base_rate:6.1%}   (goal >= 30%)"
            )
            print(
                f"  single deposits / /healthz (in turns)                 "
                f"{single_rate / health_rate:6.1%}   (goal >= 35%)"
            )
            if lesson_rate:
                print(
                    f"  lesson reports / /healthz                             "
                    f"{lesson_rate / health_rate:6.1%}   (goal >= 35%)"
                )
            print(f"  batch deposits/s vs 10,000/s goal    {batch_rate / 10000:6.2f}x")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
