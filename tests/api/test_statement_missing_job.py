"""The midday `statement_missing` job counts working days and the region's threshold, as the
indicator does (issue 33: it counted three calendar days where its knob counts working days).
On a database of its own (the job's summary counts every institution in the region), SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine

from service.kit.clock import SHANGHAI
from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_flows import World


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    return fresh_engine


def _statement_on_friday(w: World) -> None:
    """The escrow account funded on Monday 23 November 2026, its statement sent on Friday 27."""
    e = w.enroll(lessons=2, amount="40.00")
    assert w.pay(e, txn="DEP-1").status_code == 201
    w.clock.now = datetime(2026, 11, 27, 18, 0, tzinfo=SHANGHAI)
    r = w.signed(
        "POST",
        "/api/v1/bank/statements",
        {
            "account_no": w.escrow,
            "statement_date": "2026-11-27",
            "opening_balance": "0.00",
            "closing_balance": "40.00",
            "transactions": [
                {
                    "bank_txn_id": "DEP-1",
                    "direction": "credit",
                    "amount": "40.00",
                    "booked_at": "2026-11-23T09:00:00+08:00",
                }
            ],
        },
    )
    assert r.status_code == 200 and r.json()["status"] == "matched", r.text


def _silent(w: World, at: datetime) -> int:
    return int(w.job("statement_missing", at)["institutions_without_statement"])


def test_a_bank_silent_over_a_weekend_is_not_silent(world: World) -> None:
    _statement_on_friday(world)
    # Monday 20:00: three calendar days and two hours after Friday's statement, but no working
    # day has passed without one (Monday's is not yet due).
    assert _silent(world, datetime(2026, 11, 30, 20, 0, tzinfo=SHANGHAI)) == 0
    # Thursday noon: Monday, Tuesday and Wednesday passed without a statement.
    assert _silent(world, datetime(2026, 12, 3, 12, 0, tzinfo=SHANGHAI)) == 1


def test_the_jobs_record_names_a_systemic_silence_only_for_many(world: World) -> None:
    """The job's record carries the sweep's systemic events: one school silent is its own
    case, no notice (many at one bank: tests/integration/test_systemic_notices.py)."""
    _statement_on_friday(world)
    out = world.job("statement_missing", datetime(2026, 12, 3, 12, 0, tzinfo=SHANGHAI))
    assert out["institutions_without_statement"] == 1 and out["systemic_events"] == []


def test_the_job_follows_the_regions_threshold(world: World, engine: Engine) -> None:
    _statement_on_friday(world)
    r = world.client.post(
        "/api/v1/region-settings",
        headers=bearer(world.reg),
        json={
            "region_code": "220102",
            "key": "risk_thresholds",
            "value": {"statement_missing": {"threshold": 5}},
        },
    )
    assert r.status_code == 202, r.text  # a rule pack change: four eyes
    through(world.client, engine, r)
    # Three working days silent: under this region's five.
    assert _silent(world, datetime(2026, 12, 3, 12, 0, tzinfo=SHANGHAI)) == 0
    # Friday 4 December noon: four (30 November to 3 December); Saturday 5 December: five.
    assert _silent(world, datetime(2026, 12, 4, 12, 0, tzinfo=SHANGHAI)) == 0
    assert _silent(world, datetime(2026, 12, 5, 12, 0, tzinfo=SHANGHAI)) == 1


def test_the_job_gathers_what_the_predicate_reads(world: World, engine: Engine) -> None:
    """The job reads only `SILENCE_FACTS`, not a whole sweep's: on them the predicate answers
    as on every fact, before and after the silence, funded or not."""
    from service.kit.db import make_sessionmaker
    from service.policy.knobs import RiskConfig
    from service.risk.facts import SILENCE_FACTS, Needs, _Queries, gather
    from service.risk.indicators import statement_overdue

    assert {f.__name__ for f in _Queries.ALL} >= SILENCE_FACTS
    instants = [datetime(2026, 11, d, 12, 0, tzinfo=SHANGHAI) for d in (24, 30)]
    instants += [datetime(2026, 12, d, 12, 0, tzinfo=SHANGHAI) for d in (3, 9, 20)]
    answers = []
    for funded in (False, True):
        if funded:
            _statement_on_friday(world)
        with make_sessionmaker(engine)() as s:
            for at in instants:
                needs = Needs.of([RiskConfig()])
                whole = gather(s, as_of=at, needs=needs)
                part = gather(s, as_of=at, needs=needs, only=SILENCE_FACTS)
                assert set(whole) == set(part)
                for i, f in whole.items():
                    expected = statement_overdue(f, at, RiskConfig())
                    assert statement_overdue(part[i], at, RiskConfig()) == expected
                    answers.append(expected is not None)
    assert any(answers) and not all(answers)  # silent at some instants, not at others
