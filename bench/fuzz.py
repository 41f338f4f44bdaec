"""The long schemathesis run (the reliability issue: API fuzzing): every operation of
`/openapi.json`, as its caller, positive and negative data, every check, `--examples` cases per
operation and kind (200), on a fresh PostgreSQL database (or SQLite with `--sqlite`). Prints the
cases run, their rate, and every failure; exit 1 if there is one.

Baseline in the same run: the same number of requests to `/healthz`, for the rate.

Run: .venv/bin/python bench/fuzz.py [--examples 200] [--seed 1] [--sqlite]

With `--cli`: instead, `st run --checks all` (the command line, every phase, the repository's
schemathesis.toml) against the service served over HTTP, as a regulator and then as an
institution, `--examples` per operation: the long form of tests/fuzz/test_conformance.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    parser.add_argument("--cli", action="store_true", help="st run --checks all, both callers")
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
        settings = Settings(environment="test", log_signing_key="ab" * 32, database_url=url, secret_key=factories.SECRET_KEY,
                            scheduler_enabled=False, rate_limit_per_second=0)  # fmt: skip
        app, callers = world(engine, settings)
        if args.cli:
            return _cli(app, callers, examples=args.examples, seed=args.seed)
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


def _cli(app: Any, callers: Any, *, examples: int, seed: int) -> int:
    from tests.fuzz.test_conformance import st_run
    from tests.live import serving

    failed = 0
    with serving(app) as base:
        for name, token in (("regulator", callers.regulator), ("institution", callers.institution)):
            began = time.perf_counter()
            done = st_run(base, token, examples=examples, seed=seed)
            summary = [line for line in done.stdout.splitlines() if line.startswith("=")][-1:]
            print(f"as {name}: exit {done.returncode} in {time.perf_counter() - began:.0f} s; "
                  f"{' '.join(summary)}")  # fmt: skip
            if done.returncode:
                failed += 1
                print(done.stdout[-30000:])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
