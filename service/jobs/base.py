"""What a job is: a named function of a session and a context, its schedule, and what runs
after its transaction commits. The catalogue (`catalog.py`) lists them; the runner
(`runner.py`) runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.kit.replica import Reads


@dataclass(frozen=True)
class JobContext:
    as_of: datetime  # the instant judged
    now: datetime  # the real clock, when what the job does is recorded
    settings: Settings
    region_prefix: str | None = None  # None: every region (the scheduler, the CLI)
    # The read replica, for the facts a job reads that may lag (service.kit.replica).
    reads: Reads | None = None


@contextmanager
def lagging_reads(session: Session, ctx: JobContext) -> Iterator[Session]:
    """A session for the reads of a job that may lag: the replica's while it is close enough
    behind, else the job's own (the primary's). Never for what decides about money."""
    factory = ctx.reads.pick()[0] if ctx.reads is not None else None
    if factory is None:
        yield session
        return
    with factory() as replica:
        yield replica


JobFn = Callable[[Session, JobContext], dict[str, Any]]
# Runs after the job's transaction committed (e.g. pushing the instructions it made).
AfterFn = Callable[[sessionmaker[Session], "JobContext", Callable[[], datetime]], dict[str, Any]]


@dataclass(frozen=True)
class Job:
    name: str
    fn: JobFn
    trigger: dict[str, Any]  # APScheduler trigger arguments
    after: AfterFn | None = None
    # Whether the job can act on one region only; only such jobs may be run by a regulator.
    regional: bool = False
    # Whether a replayed day (the backtest, the simulator: `runner.run_day`) runs it: every job
    # that judges, moves or holds money does; one that only publishes what happened does not.
    replayed: bool = True
