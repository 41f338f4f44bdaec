"""CPU per request of the paths money takes, in one process, one request at a time.

The app (`create_app`) on a fresh PostgreSQL database (`bench.deposits.setup`), called through
httpx's ASGI transport with every thread hand-off run inline, so that all of a request's
Python runs on this thread: GET /healthz, a bank's single signed POST /bank/deposits, an
institution's POST /enrollments/{id}/consumptions, and POST /bank/deposits/batch (1,000).
Prints the CPU time (this process: the app's Python and the client's, not PostgreSQL's) and
the wall time per request. On a shared machine CPU time is steadier than rates; compare two
versions of the code by running this in each, alternately.

Run: .venv/bin/python bench/deposits_inprocess.py [--requests 300] [--profile single]
(--profile healthz|single|lesson|batch: cProfile of that path, the heaviest entries)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio.to_thread
import httpx

from bench.common import temporary_pg_database
from bench.deposits import SECRET_KEY, deposit, lesson_reports, setup
from service.app import create_app
from service.bank_gateway.signing import signed_headers
from service.config import Settings


async def _inline(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
    return func(*args)


def signed(secret: str, bank: str, path: str, body: bytes) -> dict[str, str]:
    headers = signed_headers(
        secret, bank_id=bank, timestamp=int(time.time()), method="POST",
        path_and_query=path, body=body,
    )  # fmt: skip
    return {**headers, "content-type": "application/json"}


async def run(app: Any, bank: str, secret: str, enrolled: list[Any], args: Any) -> None:
    n = args.requests
    singles = iter(enumerate(enrolled[: n + 30]))
    batches = iter(range(3))
    rest = enrolled[n + 60 :]
    reports: Any = None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:

        async def health() -> httpx.Response:
            return await c.get("/healthz")

        async def single() -> httpx.Response:
            k, (account, ref, _, _) = next(singles)
            body = json.dumps(deposit(f"S{k}", account, ref)).encode()
            path = "/api/v1/bank/deposits"
            return await c.post(path, content=body, headers=signed(secret, bank, path, body))

        async def lesson() -> httpx.Response:
            nonlocal reports
            if reports is None:  # held after the deposits that paid them
                reports = iter(lesson_reports(enrolled[: n + 20]))
            _, path, body, key = next(reports)
            headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
            return await c.post(path, content=body, headers=headers)

        async def batch() -> httpx.Response:
            b = next(batches)
            items = [deposit(f"B{b}-{k}", a, r) for k, (a, r, _, _) in
                     enumerate(rest[b * 1000 : (b + 1) * 1000])]  # fmt: skip
            body, path = json.dumps({"deposits": items}).encode(), "/api/v1/bank/deposits/batch"
            return await c.post(path, content=body, headers=signed(secret, bank, path, body))

        paths: list[tuple[str, Callable[[], Awaitable[httpx.Response]], int, int]] = [
            ("healthz", health, 20, n), ("single", single, 20, n),
            ("lesson", lesson, 20, n), ("batch", batch, 1, 2),
        ]  # fmt: skip
        for name, send, warm, count in paths:
            for _ in range(warm):
                (await send()).raise_for_status()
            profile = cProfile.Profile(time.process_time) if args.profile == name else None
            cpu, wall = time.process_time(), time.perf_counter()
            if profile:
                profile.enable()
            for _ in range(count):
                (await send()).raise_for_status()
            if profile:
                profile.disable()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            print(f"  {name:8} CPU {cpu / count * 1000:8.2f} ms/request   "
                  f"wall {wall / count * 1000:8.2f} ms/request", flush=True)  # fmt: skip
            if profile:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300, help="of each single-request path")
    ap.add_argument("--profile", choices=("healthz", "single", "lesson", "batch"))
    args = ap.parse_args()
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
    with temporary_pg_database("tg_bench_inproc") as url:
        bank, secret, enrolled = setup(url, 2 * args.requests + 3_100)
        settings = Settings(
            environment="test", log_signing_key="ab" * 32, database_url=url,
            secret_key=SECRET_KEY, rate_limit_per_second=0, scheduler_enabled=False,
        )  # fmt: skip
        print("in process on PostgreSQL, one request at a time (CPU: this process only)")
        asyncio.run(run(create_app(settings), bank, secret, enrolled, args))


if __name__ == "__main__":
    main()
