"""The long schemathesis run (the reliability issue: API fuzzing): every operation of
`/openapi.json`, as its caller, positive and negative data, every check, `--examples` cases per
operation and kind (200), on a fresh PostgreSQL database (or SQLite with `--sqlite`). Prints the
cases run, their rate, and every failure; exit 1 if there is one.

Baseline in the same run: the same number of requests to `/healthz`, for the rate.

Run: .venv/bin/python bench/fuzz.py [--examples 200] [--seed 1] [--sqlite]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from service.config import Settings
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.tables import load_reference
from tests import factories
from tests.conftest import create_pg_database, drop_pg_database
from tests.fuzz.schema_run import fuzz, load, world


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-fuzz-")
    url = f"sqlite:///{tmp}/fuzz.db" if args.sqlite else create_pg_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        run_in_transaction(
            make_sessionmaker(engine), lambda s: load_reference(s, now=datetime.now(UTC))
        )
        # No rate limit, as in the tests: a throttled probe (429) tells nothing of the document,
        # and the limits have their own tests (tests/api/test_limits.py).
        settings = Settings(environment="test", database_url=url, secret_key=factories.SECRET_KEY,
                            scheduler_enabled=False, rate_limit_per_second=0)  # fmt: skip
        app, callers = world(engine, settings)
        started = time.perf_counter()
        ran, failures = fuzz(load(app, examples=args.examples), callers,
                             examples=args.examples, seed=args.seed)  # fmt: skip
        seconds = time.perf_counter() - started
        with TestClient(app) as c:
            began = time.perf_counter()
            for _ in range(ran):
                c.get("/healthz")
            baseline = time.perf_counter() - began
        engine.dispose()
    finally:
        if not args.sqlite:
            drop_pg_database(url)
    print(f"database: {'SQLite' if args.sqlite else 'PostgreSQL'}; examples per operation and "
          f"kind: {args.examples}; seed {args.seed}")  # fmt: skip
    print(
        f"cases run: {ran:,} in {seconds:.1f} s ({ran / seconds:.0f} /s); the same number of "
        f"/healthz: {baseline:.1f} s ({ran / baseline:.0f} /s); ratio {seconds / baseline:.1f}x"
    )
    print(f"failures: {len(failures)}")
    for f in failures:
        print(f"\n{f.operation} ({f.mode})\n{f.error}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
