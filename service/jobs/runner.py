"""Named, bounded, re-runnable jobs and the APScheduler set-up that runs them.

Each job is a function `(session, JobContext) -> summary` that runs in its own transaction,
judges everything as if the clock read `ctx.as_of`, records what it does at `ctx.now` (the real
clock: history is never written in the past or the future), and acts on `ctx.region_prefix`
only when one is given (a regulator's run). `as_of` is never later than now beyond a small
clock skew, nor older than `as_of_max_past_days`, however the job is started. Exactly one
process runs scheduled jobs at a time: on PostgreSQL the scheduler that holds a session-level
advisory lock is the leader; on SQLite there is only one process.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.errors import DomainError
from service.jobs.base import JobContext
from service.jobs.catalog import JOBS, in_day_order, trigger_of
from service.jobs.models import JobRun
from service.kit.clock import check_as_of, local_date
from service.kit.db import session_scope
from service.kit.ids import new_id
from service.kit.replica import Reads
from service.registry.institutions import ACTING_OFFICER, audit

log = logging.getLogger("tuitionguard.jobs")


LEADER_LOCK_KEY = 0x7467_6A6F_6273  # "tgjobs"
RUNNER = f"{socket.gethostname()}:{os.getpid()}"


def run_job(
    sessions: sessionmaker[Session],
    name: str,
    *,
    as_of: datetime,
    settings: Settings,
    now: datetime,
    clock: Callable[[], datetime] | None = None,
    region_prefix: str | None = None,
    actor: str | None = None,
    period: str | None = None,
    officer_id: str | None = None,
    reads: Reads | None = None,
) -> dict[str, Any]:
    """Run one job now in its own transaction and record the run. Safe to call twice. With a
    `region_prefix` (a regulator's run) the job acts on that region only, and a job that cannot
    be scoped is refused. With a `period` (the scheduler's slot), a run already recorded for
    the slot (by another scheduler) means this one does nothing. `officer_id`: the person who
    ran it for the office, named on every audit record the job writes. `clock`: the world's
    clock, read again when the run ends so that `finished_at` is the end's instant, not the
    start's; without one (a caller with only a fixed instant) the run ends when it started."""
    tick = clock or (lambda: now)
    job = JOBS.get(name)
    if job is None:
        raise DomainError("unknown_job", f"no job {name!r}; jobs: {', '.join(sorted(JOBS))}")
    if region_prefix is not None and not job.regional:
        raise DomainError(
            "job_not_regional",
            f"{name} acts on the whole service and is run by the scheduler only; a regulator "
            f"may run: {', '.join(sorted(n for n, j in JOBS.items() if j.regional))}",
        )
    check_as_of(as_of, now=now, settings=settings)
    ctx = JobContext(
        as_of=as_of, now=now, settings=settings, region_prefix=region_prefix, reads=reads
    )
    run_id = new_id("run")
    try:
        with session_scope(sessions) as s:
            s.add(JobRun(id=run_id, name=name, as_of=as_of, started_at=now, outcome="running",
                         runner=RUNNER, period=period))  # fmt: skip
    except IntegrityError:  # the slot's run is another scheduler's
        log.warning("job %s of %s was run by another scheduler", name, period)
        return {"job": name, "as_of": as_of.isoformat(), "skipped": "run by another scheduler"}
    try:
        with session_scope(sessions) as s:
            if officer_id is not None:  # this transaction is theirs, as a request's would be
                s.info[ACTING_OFFICER] = officer_id
            summary = job.fn(s, ctx)
            if actor is not None:  # run by someone, not by the schedule: on the audit log
                region = (region_prefix or "").ljust(6, "0") if region_prefix else None
                audit(s, actor=actor, action=f"job:{name}", subject=region or "*",
                      detail={"as_of": as_of.isoformat(), "summary": summary}, now=now,
                      region_code=region)  # fmt: skip
    except Exception as exc:
        with session_scope(sessions) as s:
            run = s.get(JobRun, run_id)
            assert run is not None
            run.outcome, run.finished_at = "failed", tick()
            run.error = "".join(traceback.format_exception_only(exc))[-2000:]
        raise
    with session_scope(sessions) as s:
        run = s.get(JobRun, run_id)
        assert run is not None
        run.outcome, run.finished_at, run.summary = "ok", tick(), summary
    if job.after is not None:
        summary = {**summary, **job.after(sessions, ctx, tick)}
    log.info("job finished", extra={"job": name, "summary": summary})
    return {"job": name, "as_of": as_of.isoformat(), **summary}


def run_day(
    session: Session, *, as_of: datetime, settings: Settings, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """A replayed day's jobs (the backtest, the simulator): every job of the catalogue a replay
    runs (`Job.replayed`) once, in the scheduler's order of a day (`in_day_order`), each
    judging as if the clock read `as_of`, in the caller's transaction, each starting from the
    rows as its own session would. No run is recorded (a replay's day is not the scheduler's),
    and what runs after a job's commit is left out: a replay's bank reads and settles its
    instructions itself."""
    ctx = JobContext(as_of=as_of, now=now or as_of, settings=settings)
    out: dict[str, dict[str, Any]] = {}
    for job in (j for j in in_day_order() if j.replayed):
        out[job.name] = job.fn(session, ctx)
        session.flush()
        session.expire_all()
    return out


class Leader:
    """Leadership among scheduler processes. On PostgreSQL a session-level advisory lock on a
    connection kept open for the process's life; released if the process dies."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def is_leader(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        if self.conn is not None:
            try:
                self.conn.execute(text("SELECT 1"))
                return True
            except Exception:
                self.conn = None
        # Autocommit: the lock is the session's, and no transaction should stay open with it.
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar()
        if got:
            self.conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self.conn is not None:
            self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_LOCK_KEY})
            self.conn.close()
            self.conn = None


def period_of(trigger: dict[str, Any], now: datetime) -> str:
    """The scheduled slot `now` falls in: the Beijing day of a daily job, the start of the
    interval of a periodic one (in whole seconds since the epoch, as UTC)."""
    if trigger["trigger"] == "cron":
        return local_date(now).isoformat()
    seconds = int(trigger.get("seconds", 0)) + 60 * int(trigger.get("minutes", 0))
    start = int(now.timestamp()) // max(seconds, 1) * max(seconds, 1)
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def start_scheduler(
    sessions: sessionmaker[Session],
    *,
    settings: Settings,
    engine: Engine,
    clock: Callable[[], datetime],
    blocking: bool = False,
    reads: Reads | None = None,
) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    leader = Leader(engine)
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="Asia/Shanghai")

    def tick(name: str, trigger: dict[str, Any]) -> None:
        if not leader.is_leader():
            return
        now = clock()
        try:
            run_job(sessions, name, as_of=now, settings=settings, now=now, clock=clock,
                    period=period_of(trigger, now), reads=reads)  # fmt: skip
        except Exception:
            log.exception("job %s failed", name)

    for job in in_day_order():  # jobs due at one moment fire in the order they were added
        trigger = trigger_of(job, settings.scheduler_tick_seconds)
        scheduler.add_job(
            tick, args=[job.name, trigger], id=job.name, max_instances=1, coalesce=True, **trigger
        )
    scheduler.start()
    return scheduler
