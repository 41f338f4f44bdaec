"""A scheduled job runs once per slot, whichever scheduler believes it leads (the fence behind
the advisory lock), on SQLite and PostgreSQL; a run by hand has no slot and is never fenced."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from service.config import Settings
from service.jobs.models import JobRun
from service.jobs.runner import period_of, run_job
from service.kit.db import make_sessionmaker

NOW = datetime(2026, 12, 6, 5, 0, 30, tzinfo=UTC)


def test_a_slot_runs_once(engine: Engine, settings: Settings) -> None:
    sessions = make_sessionmaker(engine)
    slot = f"test-{NOW.timestamp()}"
    first = run_job(sessions, "hold_expiry", as_of=NOW, settings=settings, now=NOW, period=slot)
    again = run_job(sessions, "hold_expiry", as_of=NOW, settings=settings, now=NOW, period=slot)
    by_hand = run_job(sessions, "hold_expiry", as_of=NOW, settings=settings, now=NOW)
    assert "skipped" not in first and "skipped" not in by_hand
    assert again["skipped"] == "run by another scheduler"
    with sessions() as s:
        runs = s.scalars(select(JobRun).where(JobRun.period == slot)).all()
    assert len(runs) == 1 and runs[0].outcome == "ok"


def test_slots() -> None:
    daily = {"trigger": "cron", "hour": 1, "minute": 0}
    assert period_of(daily, NOW) == "2026-12-06"  # 13:00 in Beijing
    every_15 = {"trigger": "interval", "minutes": 15}
    assert period_of(every_15, NOW) == "2026-12-06T05:00:00"
    assert period_of({"trigger": "interval", "seconds": 1}, NOW) == "2026-12-06T05:00:30"
