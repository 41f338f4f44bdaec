"""The backtest takes the product's path (issue 31, "Tools take the product's path"): its day
is the job catalogue in the scheduler's order, and its bank's results and statements go through
the use cases the bank's API calls, risk trigger included; its events through the audited use
cases the API routes call."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.flows.models import Instruction
from service.jobs import catalog
from service.jobs.base import JobContext
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker, session_scope
from service.policy import region_settings as policy
from service.registry.models import AuditEvent, Institution
from service.risk import triggers
from service.risk.models import RiskEvaluation
from tests.integration.test_backtest import DATA, _line, _replayed


def _schedule_order() -> list[str]:
    """The catalogue's jobs by when each first runs after midnight, read from the schedules
    here (not from the function under test): a daily job at its hour and minute, a periodic
    one after its interval; ties in the catalogue's order."""

    def minutes(trigger: dict[str, Any]) -> float:
        if trigger["trigger"] == "cron":
            return 60 * int(trigger["hour"]) + int(trigger.get("minute", 0))
        return int(trigger.get("minutes", 0)) + int(trigger.get("seconds", 0)) / 60

    return [j.name for j in sorted(catalog.JOBS.values(), key=lambda j: minutes(j.trigger))]


def test_the_day_order_is_the_catalogues_schedule() -> None:
    order = [j.name for j in catalog.in_day_order()]
    assert order == _schedule_order()
    assert set(order) == set(catalog.JOBS) and len(order) == len(catalog.JOBS)
    # Production sweeps at 01:00 and releases at 02:00.
    assert order.index("risk_sweep") < order.index("release_batch")


def test_every_day_of_the_backtest_runs_the_catalogue_in_the_schedulers_order(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[tuple[date, str]] = []

    def recording(job: catalog.Job) -> catalog.Job:
        def fn(session: Session, ctx: JobContext) -> dict[str, Any]:
            ran.append((local_date(ctx.as_of), job.name))
            return job.fn(session, ctx)

        return dataclasses.replace(job, fn=fn)

    for name, job in list(catalog.JOBS.items()):
        monkeypatch.setitem(catalog.JOBS, name, recording(job))
    lines = DATA.read_text().splitlines()[:14]  # three schools, their courses, two days
    _, summary, _, err = _replayed(engine, lines)
    assert summary["days"] == 2, err.getvalue()
    expected = [n for n in _schedule_order() if catalog.JOBS[n].replayed]
    # Only publishing is left out of a replayed day (it judges, moves and holds nothing): the
    # proofs of a day, and the rollups of the present for the national view.
    assert set(catalog.JOBS) - set(expected) <= {"proof_publish", "national_rollups"}
    days = sorted({d for d, _ in ran})
    assert days == [date(2026, 11, 23), date(2026, 11, 24)]
    for day in days:
        assert [name for d, name in ran if d == day] == expected


def test_the_backtests_bank_fires_the_risk_trigger_the_bank_api_fires(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejected refund and a statement showing money gone re-evaluate the institution at
    once, through the functions the bank's API routes call."""
    fired: list[tuple[str, str, datetime]] = []
    original = triggers.reevaluate

    def spy(session: Session, institution_id: str, *, now: datetime, why: str) -> None:
        fired.append((institution_id, why, now))
        original(session, institution_id, now=now, why=why)

    monkeypatch.setattr(triggers, "reevaluate", spy)
    replay, _, _, err = _replayed(engine, DATA.read_text().splitlines())
    b, c = replay.ids["institution"]["B"], replay.ids["institution"]["C"]
    rejected_at = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # the refund_result line's `at`
    assert (b, "refund rejected", rejected_at) in fired, err.getvalue()
    assert any(i == c and why == "statement breaks" for i, why, _ in fired), fired
    with make_sessionmaker(engine)() as s:
        at_once = s.scalar(
            select(RiskEvaluation).where(
                RiskEvaluation.institution_id == b, RiskEvaluation.as_of == rejected_at
            )
        )
        assert at_once is not None and at_once.level == "critical"
        assert "refund_failed" in {i["code"] for i in at_once.indicators}


def test_under_auto_freeze_a_release_production_would_hold_is_held(
    fresh_engine: Engine,
) -> None:
    """The school's statement of 2 December shows money gone (critical); the region freezes
    critical schools. Production (a statement's trigger, the sweep at 01:00 before the release
    at 02:00) releases nothing from then on; the backtest must not either."""
    sessions = make_sessionmaker(fresh_engine)
    with session_scope(sessions) as s:
        policy.put(s, region_code="220102", key="auto_freeze_on_critical", value=True,
                   now=datetime(2026, 11, 1, tzinfo=UTC))  # fmt: skip
    source = DATA.read_text().splitlines()
    lines = [source[2], source[5], source[8], source[11]]  # school C, its course, C1 paid
    lines += [_line(f"2026-11-{d}T17:00:00+08:00", "consumption", enrollment="C1", lessons=1)
              for d in (24, 25, 26, 27)]  # fmt: skip
    lines += [
        _line("2026-12-02T12:00:00+08:00", "bank_debit", institution="C", bank_txn_id="GONE",
              amount="10.00"),
        _line("2026-12-04T09:00:00+08:00", "complaint", institution="C", category="other"),
    ]  # fmt: skip
    replay, _, out, err = _replayed(fresh_engine, lines)
    c = replay.ids["institution"]["C"]
    rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
    levels = {r["date"]: r["level"] for r in rows if r["institution"] == "C"}
    assert levels["2026-12-01"] != "critical" and levels["2026-12-02"] == "critical", levels
    with sessions() as s:
        released = {
            local_date(i.created_at): str(i.amount)
            for i in s.scalars(
                select(Instruction).where(
                    Instruction.institution_id == c, Instruction.purpose == "release"
                )
            )
        }
        school = s.get(Institution, c)
        assert school is not None and school.status == "frozen"
    # The lesson of 24 November was due on 1 December and released; that of 25 November, due
    # on 2 December, is held with every later one.
    assert released == {date(2026, 12, 1): "20.00"}, (released, err.getvalue())


def test_registry_changes_and_closures_are_recorded_as_the_api_records_them(
    engine: Engine,
) -> None:
    source = DATA.read_text().splitlines()
    lines = [
        *source[:3],
        _line("2026-11-24T09:00:00+08:00", "registry_change", institution="A",
              field="legal_person", new="Zhang San"),
        _line("2026-11-24T10:00:00+08:00", "closure_notice", institution="B",
              effective="2026-12-31"),
    ]  # fmt: skip
    replay, summary, _, err = _replayed(engine, lines)
    assert summary["skipped"] == 0, err.getvalue()
    a, b = replay.ids["institution"]["A"], replay.ids["institution"]["B"]
    with make_sessionmaker(engine)() as s:
        audited = {
            (e.institution_id, e.action): e
            for e in s.scalars(select(AuditEvent).where(AuditEvent.institution_id.in_((a, b))))
        }
    change = audited[(a, "registry:legal_person")]
    assert change.actor.startswith("regulator:") and change.detail["after"] == "Zhang San"
    assert audited[(b, "closure:announce")].actor == f"institution:{b}"


def test_a_deposit_over_the_limit_is_refused_as_the_bank_api_refuses_it(engine: Engine) -> None:
    source = DATA.read_text().splitlines()
    lines = [*source[:8], source[9]]  # the schools, courses and enrollments; A1 paid
    lines += [
        _line("2026-11-23T09:40:00+08:00", "deposit", bank_txn_id="HUGE", institution="B",
              enrollment="B1", amount="600000.00"),  # over max_deposit_amount (500,000)
    ]  # fmt: skip
    _, summary, _, err = _replayed(engine, lines)
    assert "line 10: deposit skipped: deposit_above_limit" in err.getvalue(), err.getvalue()
    assert summary["skipped"] == 1, err.getvalue()
