"""A job run records when it started and when it finished by the clock it was handed, so a job
that takes time reads as taking time (the runs' table, the duration figure on /metrics), on
SQLite and PostgreSQL. Before, `finished_at` was stamped with the start's instant and every
duration read 0."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.api.business_metrics import _jobs
from service.config import Settings
from service.jobs import runner
from service.jobs.base import Job, JobContext
from service.jobs.models import JobRun
from service.kit.db import make_sessionmaker

NOW = datetime(2026, 12, 6, 5, 0, 30, tzinfo=UTC)
TAKES = timedelta(seconds=7, milliseconds=250)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


def _slow(clock: Clock, fails: bool) -> Job:
    def work(session: Session, ctx: JobContext) -> dict[str, Any]:
        clock.now += TAKES  # the work takes a while by the world's clock
        if fails:
            raise RuntimeError("the job's work failed")
        return {"done": 1}

    return Job(f"slow_{'failing' if fails else 'ok'}", work, {"trigger": "interval", "minutes": 1})


@pytest.mark.parametrize("fails", [False, True])
def test_a_run_finishes_at_the_clock_when_it_ends(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    clock = Clock()
    job = _slow(clock, fails)
    monkeypatch.setitem(runner.JOBS, job.name, job)
    sessions = make_sessionmaker(engine)
    if fails:
        with pytest.raises(RuntimeError):
            runner.run_job(sessions, job.name, as_of=NOW, settings=settings, now=NOW, clock=clock)
    else:
        runner.run_job(sessions, job.name, as_of=NOW, settings=settings, now=NOW, clock=clock)
    with sessions() as s:
        run = s.scalars(select(JobRun).where(JobRun.name == job.name)).one()
        assert run.outcome == ("failed" if fails else "ok")
        assert run.started_at == NOW
        assert run.finished_at is not None and run.started_at < run.finished_at
        assert run.finished_at - run.started_at == TAKES
        figures = {(m.name, tuple(s.labels.values())): s.value for m in _jobs(s) for s in m.samples}
    took = figures[("tg_job_last_duration_seconds", (job.name, run.outcome))]
    assert took == TAKES.total_seconds()


def test_without_a_clock_a_run_ends_when_it_started(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller with only a fixed instant (a test, a replay) records no duration rather than a
    wall-clock reading that has nothing to do with its instant."""
    job = _slow(Clock(), fails=False)
    job = Job("slow_unclocked", job.fn, job.trigger)
    monkeypatch.setitem(runner.JOBS, job.name, job)
    sessions = make_sessionmaker(engine)
    runner.run_job(sessions, job.name, as_of=NOW, settings=settings, now=NOW)
    with sessions() as s:
        run = s.scalars(select(JobRun).where(JobRun.name == job.name)).one()
    assert run.finished_at == run.started_at == NOW
