"""Scheduler leadership under faults, at length: three `tuitionguard scheduler` processes for
`--minutes` (10) on a fresh PostgreSQL database, the leader's lock connection cut `--kills`
(5) times and, between the cuts, the leading process killed with SIGKILL `--crashes` (3) times
(another started in its place), at even intervals. Prints each failover (the fault to the next
job run), the runs, how often leadership changed hands, and the checks: no job run twice for
one slot, no two schedulers running a job at once.

Baseline in the same run: the tick itself (1 s), the shortest failover possible.

Run: .venv/bin/python bench/leader.py [--minutes 10] [--kills 5] [--crashes 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.kit.db import make_engine
from service.kit.migrate import upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.leadership import exercise

TICK_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--crashes", type=int, default=3)
    parser.add_argument("--processes", type=int, default=3)
    args = parser.parse_args()
    url = create_pg_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        every = args.minutes * 60 / (args.kills + args.crashes + 1)
        out = exercise(engine, url, processes=args.processes, kills=args.kills, every=every,
                       crashes=args.crashes)  # fmt: skip
        engine.dispose()
    finally:
        drop_pg_database(url)
    print(f"schedulers: {args.processes}, {args.minutes:g} minutes, cuts: {out.kills}, "
          f"leaders killed: {out.crashes}")  # fmt: skip
    print(f"job runs: {out.runs} by {len(out.runners)} scheduler processes over the run, "
          f"leadership changed hands {out.handovers} times")  # fmt: skip
    print("failovers (s): " + ", ".join(f"{f:.1f}" for f in out.failovers))
    print(f"  worst {max(out.failovers):.1f} s, median {statistics.median(out.failovers):.1f} s"
          f" (goal < 30 s); / the tick ({TICK_SECONDS:.0f} s): "
          f"{max(out.failovers) / TICK_SECONDS:.1f}x")  # fmt: skip
    print(f"slots run twice: {out.duplicate_slots}; runs overlapping across schedulers: "
          f"{len(out.overlaps)}")  # fmt: skip
    for o in out.overlaps[:5]:
        print("  " + o)


if __name__ == "__main__":
    main()
