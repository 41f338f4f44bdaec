"""Helpers shared by the benchmarks: a throw-away PostgreSQL database, timing, printing."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

PG_URL = os.environ.get(
    "BENCH_DATABASE_URL",
    os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
)


@contextmanager
def temporary_pg_database(prefix: str) -> Iterator[str]:
    admin = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psycopg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def line(label: str, value: float, unit: str, extra: str = "") -> None:
    print(f"  {label:<48} {value:>12,.0f} {unit}{('  ' + extra) if extra else ''}", flush=True)


def machine_speed() -> float:
    """Milliseconds one core takes for a fixed piece of Python work (decimal arithmetic,
    string formatting, hashing, dicts: what the service does per deposit). This machine's
    speed drifts by as much as two times within an hour; printed before and after a run, it
    says which kind of hour the figures come from. Lower is faster."""
    import hashlib
    from decimal import Decimal

    t0 = time.process_time()
    total = Decimal("0.00")
    for k in range(60_000):
        amount = Decimal(k % 100_000) / 100
        total += amount.quantize(Decimal("0.01"))
        row = {"id": f"dep_{k:032x}", "amount": f"{amount:.2f}", "k": k}
        hashlib.sha256(repr(row).encode()).hexdigest()
    return (time.process_time() - t0) * 1000


def analyze(engine: Engine) -> None:
    """Statistics as autovacuum keeps them on a table that has grown (it analyzes after a
    tenth of a table changed): history written in seconds would otherwise be planned for
    with the figures of an empty table."""
    with engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
        c.commit()
