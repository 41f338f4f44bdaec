"""Scheduler leadership under faults, shared by the test (`test_leader.py`, short) and the
benchmark-style command (`bench/leader.py`, ten minutes): several `tuitionguard scheduler`
processes on one PostgreSQL database, the leader's lock connection killed again and again
(`pg_terminate_backend`), and the leading process killed outright (SIGKILL, a new one started
in its place) so that leadership must pass to another, and then the job-run records checked: never two runs of a job for
one slot, never two schedulers running the same job at once, and how long each failover took
(the kill to the next run started)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from sqlalchemy import Engine, func, select, text

from service.jobs.models import JobRun
from service.jobs.runner import LEADER_LOCK_KEY

LOCK_HOLDER = text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND ((classid::bigint << 32) | objid::bigint) = :key"
)


@dataclass
class Outcome:
    kills: int = 0
    crashes: int = 0
    handovers: int = 0  # runs by a scheduler other than the one that ran the run before
    failovers: list[float] = field(default_factory=list)  # seconds, kill to the next run
    runs: int = 0
    runners: set[str] = field(default_factory=set)
    duplicate_slots: int = 0
    overlaps: list[str] = field(default_factory=list)


def start(url: str, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test", "SECRET_KEY": "s" * 32, "LOG_SIGNING_KEY": "ab" * 32,
           "SCHEDULER_TICK_SECONDS": "1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    return [
        subprocess.Popen(
            [sys.executable, "-m", "service.cli", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def latest_start(engine: Engine) -> datetime | None:
    with engine.connect() as c:
        return c.scalar(select(func.max(JobRun.started_at)))


def kill_leader_connection(engine: Engine) -> bool:
    """Cut the leader's lock connection, as a network fault or a DBA would."""
    with engine.connect() as c:
        pid = c.scalar(LOCK_HOLDER, {"key": LEADER_LOCK_KEY})
        if pid is None:
            return False
        c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        c.commit()
    return True


def latest_runner_pid(engine: Engine) -> int | None:
    """The process that ran the latest job (runners are `host:pid`)."""
    with engine.connect() as c:
        runner = c.scalar(select(JobRun.runner).order_by(JobRun.started_at.desc()).limit(1))
    return int(runner.rsplit(":", 1)[1]) if runner else None


def crash_leader(url: str, engine: Engine, procs: list[subprocess.Popen[bytes]]) -> bool:
    """SIGKILL the process that leads, and start another in its place."""
    pid = latest_runner_pid(engine)
    leader = next((p for p in procs if p.pid == pid), None)
    if leader is None:
        return False
    leader.kill()
    leader.wait(10)
    procs.remove(leader)
    procs.extend(start(url, 1))
    return True


def wait_for_run_after(engine: Engine, after: datetime, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        latest = latest_start(engine)
        if latest is not None and latest > after:
            return time.monotonic() - began
        time.sleep(0.2)
    return None


def exercise(
    engine: Engine, url: str, *, processes: int, kills: int, every: float, crashes: int = 0
) -> Outcome:
    """Run the schedulers; `every` seconds apart, cut the leader's connection `kills` times
    and kill the leading process `crashes` times (interleaved); then stop them and judge the
    records."""
    out = Outcome()
    procs = start(url, processes)
    try:
        deadline = time.monotonic() + 60
        while latest_start(engine) is None:
            if time.monotonic() > deadline:
                raise AssertionError("no scheduler ran a job within a minute")
            time.sleep(0.2)
        for fault in faults(kills, crashes):
            time.sleep(every)
            cut_at = latest_start(engine)
            assert cut_at is not None
            if fault == "cut" and kill_leader_connection(engine):
                out.kills += 1
            elif fault == "crash" and crash_leader(url, engine, procs):
                out.crashes += 1
            else:
                continue
            took = wait_for_run_after(engine, cut_at, 60)
            out.failovers.append(took if took is not None else float("inf"))
        time.sleep(2)
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
    judge(engine, out)
    return out


def faults(kills: int, crashes: int) -> list[str]:
    """Cuts and crashes interleaved, cuts first: cut, crash, cut, crash, ..., then the rest."""
    order = []
    for i in range(max(kills, crashes)):
        order += ["cut"] * (i < kills) + ["crash"] * (i < crashes)
    return order


def judge(engine: Engine, out: Outcome) -> None:
    with engine.connect() as c:
        rows = list(c.execute(
            select(JobRun.name, JobRun.period, JobRun.runner, JobRun.started_at,
                   JobRun.finished_at).order_by(JobRun.name, JobRun.started_at)
        ))  # fmt: skip
    out.runs = len(rows)
    out.runners = {r.runner for r in rows}
    in_time = sorted(rows, key=lambda r: r.started_at)
    out.handovers = sum(a.runner != b.runner for a, b in pairwise(in_time))
    slots = [(r.name, r.period) for r in rows]
    out.duplicate_slots = len(slots) - len(set(slots))
    for a, b in pairwise(rows):
        ends = a.finished_at or a.started_at
        if a.name == b.name and a.runner != b.runner and b.started_at < ends:
            out.overlaps.append(
                f"{a.name}: {a.runner} until {ends}, {b.runner} from {b.started_at}"
            )
