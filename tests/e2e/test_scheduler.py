"""Exactly one scheduler runs jobs at a time across processes (PostgreSQL advisory lock)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from service.jobs.models import JobRun
from service.kit.db import make_engine
from service.kit.migrate import upgrade
from tests.conftest import create_pg_database, drop_pg_database


def runs(engine) -> list[JobRun]:
    with engine.connect() as c:
        return list(c.execute(select(JobRun.runner, JobRun.started_at, JobRun.outcome)))


@pytest.mark.xdist_group("scheduler")
def test_two_schedulers_one_leader() -> None:
    url = create_pg_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ENVIRONMENT": "test",
            "SECRET_KEY": "s" * 32,
            "LOG_SIGNING_KEY": "ab" * 32,
            "SCHEDULER_TICK_SECONDS": "1",
            "LOG_LEVEL": "WARNING",
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "service.cli", "scheduler"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(runs(engine)) < 20:
                time.sleep(0.5)
            first = runs(engine)
            assert len(first) >= 20, "the schedulers ran no jobs"
            runners = {r.runner for r in first}
            assert len(runners) == 1, runners
            leader_pid = int(next(iter(runners)).rsplit(":", 1)[1])
            # The leader dies; the other takes over.
            leader = next(p for p in procs if p.pid == leader_pid)
            leader.kill()
            leader.wait(10)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                later = {r.runner for r in runs(engine)} - runners
                if later:
                    break
                time.sleep(0.5)
            assert len(later) == 1, (runners, later, len(runs(engine)))
        finally:
            for p in procs:
                p.kill()
                p.wait(10)
            engine.dispose()
    finally:
        drop_pg_database(url)
