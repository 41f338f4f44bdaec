"""Rule packs on the hot path: what resolving a region's pack costs the first time in a day
(one read of the versions of the region's chain) and after (the process's cache), against a
bare `SELECT 1` on the same connection, on PostgreSQL with the seeded packs and a district's
override.

Run: .venv/bin/python bench/rule_packs.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from bench.common import temporary_pg_database
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.policy import packs
from service.tables import load_reference


def per_call(fn, calls: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for k in range(calls):
        fn(k)
    return (time.perf_counter() - start) / calls * 1e6  # microseconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with temporary_pg_database("tg_bench_packs") as url:
        upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        run_in_transaction(sessions, lambda s: load_reference(s, now=datetime.now(UTC)))
        day0 = date(2026, 10, 8)
        with sessions() as s:
            bare = per_call(lambda k: s.execute(text("SELECT 1")), args.calls)

            def cold(k: int) -> None:  # a new day each call: never in the cache
                packs.resolve(s, "330106", "education_subject", on=day0 + timedelta(days=k))

            def warm(k: int) -> None:
                packs.resolve(s, "330106", "education_subject", on=day0)

            packs.forget()
            uncached = per_call(cold, args.calls)
            warm(0)
            cached = per_call(warm, args.calls * 50)
        engine.dispose()
    print(f"SELECT 1 on the connection      {bare:9.1f} µs a call")
    print(f"resolve, first time that day    {uncached:9.1f} µs a call "
          f"({uncached / bare:.1f}x SELECT 1)")  # fmt: skip
    print(f"resolve, cached                 {cached:9.2f} µs a call "
          f"({cached / bare:.3f}x SELECT 1)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
