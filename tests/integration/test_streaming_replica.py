"""Reads against a real streaming replica: a scratch primary started by initdb on its own port,
a replica of it by pg_basebackup (tools/cluster/pglocal.py), both stopped and removed at the
end. Skipped where PostgreSQL 15's binaries are not installed. About 15 s."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.app import create_app
from service.config import Settings
from service.jobs.runner import run_job
from service.kit import replica as replicas
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.kit.replica import Lag, Reads
from service.tables import load_reference
from tools.cluster import pglocal

pytestmark = [pytest.mark.pg, pytest.mark.xdist_group("streaming_replica")]


@dataclass
class Pair:
    primary: pglocal.Server
    replica: pglocal.Server
    primary_engine: Engine
    replica_engine: Engine


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    why = pglocal.available()
    if why:
        pytest.skip(why)
    # Not pytest's temporary folder: other runs of pytest (as root, on this shared machine)
    # close its root to the server's user and remove old folders from it.
    root = Path(tempfile.mkdtemp(prefix="tg-replica-"))
    primary = pglocal.primary(root)
    replica = None
    try:
        upgrade(primary.url)
        p_engine = make_engine(primary.url, pool_size=2)
        run_in_transaction(make_sessionmaker(p_engine), lambda s: load_reference(
            s, now=datetime.now(UTC)))  # fmt: skip
        replica = pglocal.replica(primary, root)
        r_engine = make_engine(replica.url, pool_size=2, connect_args={"connect_timeout": 2})
        yield Pair(primary, replica, p_engine, r_engine)
        p_engine.dispose()
        r_engine.dispose()
    finally:
        if replica is not None:
            replica.stop("immediate")
        primary.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _count_on(engine: Engine, marker: str) -> int:
    with engine.connect() as c:
        return int(c.execute(text(
            "SELECT count(*) FROM regulators WHERE name = :n"), {"n": marker}).scalar_one())  # fmt: skip


def _write(engine: Engine, marker: str, rows: int = 1) -> None:
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO regulators (id, name, region_code, token_hash, created_at) "
            "SELECT 'reg_' || md5(random()::text), :n, '220000', md5(random()::text), now() "
            "FROM generate_series(1, :k)"), {"n": marker, "k": rows})  # fmt: skip


def test_the_replica_follows_and_is_used_within_its_bounds(pair: Pair) -> None:
    reads = Reads(pair.primary_engine, pair.replica_engine, check_every=0)
    _write(pair.primary_engine, "follow")
    pglocal.wait_until(lambda: _count_on(pair.replica_engine, "follow") == 1, 30, "replayed")
    factory, fresh = reads.pick()
    assert factory is reads.replica and fresh.replica
    lag = replicas.postgres_lag(pair.primary_engine, pair.replica_engine)()
    assert lag is not None and lag.bytes < 1024 * 1024 and lag.seconds < 30
    app = create_app(
        Settings(environment="test", database_url=pair.primary.url,
                 secret_key="replica-secret-0123456789", log_signing_key="ab" * 32),
        engine=pair.primary_engine, reads=reads,
    )  # fmt: skip
    with TestClient(app) as c:
        ready = c.get("/readyz").json()
    assert ready["read_replica"]["configured"] and ready["read_replica"]["used"]
    assert isinstance(ready["read_replica"]["lag_seconds"], float)


def test_a_replica_whose_replay_is_paused_falls_behind_and_the_primary_answers(
    pair: Pair,
) -> None:
    reads = Reads(pair.primary_engine, pair.replica_engine, check_every=0, max_lag_bytes=64 * 1024)
    # A transaction replayed first, by this test: the age in seconds is measured from the last
    # one the replica replayed, and none may have been since it started (the module's tests can
    # run in any order, or alone).
    _write(pair.primary_engine, "anchor")
    pglocal.wait_until(lambda: _count_on(pair.replica_engine, "anchor") >= 1, 30, "replayed")
    time.sleep(0.05)
    with pair.replica_engine.connect() as c:
        c.execute(text("SELECT pg_wal_replay_pause()"))
    try:
        _write(pair.primary_engine, "behind", rows=2000)  # far more than 64 KB of WAL
        lag = replicas.postgres_lag(pair.primary_engine, pair.replica_engine)()
        assert lag is not None and lag.bytes > 64 * 1024 and lag.seconds > 0
        assert reads.pick()[0] is None  # the primary answers
        assert _count_on(pair.replica_engine, "behind") == 0  # what it would have missed
    finally:
        with pair.replica_engine.connect() as c:
            c.execute(text("SELECT pg_wal_replay_resume()"))
    pglocal.wait_until(lambda: _count_on(pair.replica_engine, "behind") == 2000, 60, "replayed")
    pglocal.wait_until(lambda: reads.pick()[0] is reads.replica, 30, "used again")


def test_the_sweep_reads_its_facts_on_the_replica_and_writes_on_the_primary(pair: Pair) -> None:
    reads = Reads(pair.primary_engine, pair.replica_engine, check_every=0)
    now = datetime.now(UTC)
    settings = Settings(environment="test", database_url=pair.primary.url,
                        secret_key="replica-secret-0123456789", log_signing_key="ab" * 32)  # fmt: skip
    out = run_job(make_sessionmaker(pair.primary_engine), "risk_sweep", as_of=now,
                  settings=settings, now=now, reads=reads)  # fmt: skip
    assert out["institutions_evaluated"] == 0 and "skipped" not in out
    with pair.primary_engine.connect() as c:
        assert (
            c.execute(text("SELECT outcome FROM job_runs WHERE name = 'risk_sweep'")).scalar()
            == "ok"
        )


def test_a_replica_that_stops_answering_is_set_aside(pair: Pair) -> None:
    reads = Reads(pair.primary_engine, pair.replica_engine, check_every=0)
    assert reads.pick()[0] is reads.replica
    pair.replica.stop("immediate")
    pair.replica_engine.dispose()
    factory, fresh = reads.pick()
    assert factory is None and not fresh.replica
    assert reads.status().lag_seconds is None and not reads.status().used
    assert isinstance(Lag(seconds=0, bytes=0), Lag)
