"""The sweep's daily counters as the database sums them (one row per institution, whatever
the lookback) equal the sums of the daily rows themselves: every window the knobs name, and a
young institution's surge baseline, shortened to the history it has. On both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update

from service.flows import counters as rollups
from service.flows.counters import InstitutionDay
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker, run_in_transaction
from service.policy.knobs import RiskConfig
from service.registry.models import Institution
from service.risk.facts import Day, Facts, Needs, gather
from service.risk.indicators import own_surge
from tests import factories

FIELDS = (
    "deposits_amount",
    "deposits_count",
    "enrollments_paid",
    "lessons_consumed",
    "refund_requests",
    "complaints",
)
CFG = RiskConfig()
NEEDS = Needs.of([CFG])
row = st.tuples(st.integers(-2, 140), st.sampled_from(FIELDS), st.integers(-3, 900))


def _rows(engine: Engine, inst: str, first: date, last: date) -> dict[date, Day]:
    """The daily rows in the lookback, as a sweep read them before it summed them."""
    t = InstitutionDay
    with make_sessionmaker(engine)() as s:
        return {
            r.day: Day(deposits_amount=r.deposits_amount, deposits_count=r.deposits_count, enrollments_paid=r.enrollments_paid,
                       lessons_consumed=r.lessons_consumed, refund_requests=r.refund_requests, complaints=r.complaints)
            for r in s.scalars(select(t).where(t.institution_id == inst, t.day >= first,
                                               t.day <= last))
        }  # fmt: skip


def _backdate(engine: Engine, inst: str, created_at: datetime) -> None:
    with engine.begin() as c:
        c.execute(update(Institution).where(Institution.id == inst).values(created_at=created_at))


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(row, max_size=40),
    young_days=st.integers(20, 110),
    minutes=st.integers(0, 24 * 60 - 1),
)
def test_summed_windows_equal_the_daily_rows(
    engine: Engine, changes: list[tuple[int, str, int]], young_days: int, minutes: int
) -> None:
    bank = factories.bank(engine)
    old, _ = factories.institution(engine, bank.id)
    young, _ = factories.institution(engine, bank.id)
    as_of = datetime(2026, 11, 30, tzinfo=UTC) + timedelta(minutes=minutes)
    _backdate(engine, old, as_of - timedelta(days=400))
    _backdate(engine, young, as_of - timedelta(days=young_days, hours=5))
    bumps: list[tuple[str, datetime, rollups.Deltas]] = [
        (inst, as_of - timedelta(days=back), {field: Decimal(n) / 100 if field == "deposits_amount"
                                              else n})
        for back, field, n in changes
        for inst in (old, young)
    ]  # fmt: skip
    run_in_transaction(make_sessionmaker(engine), lambda s: rollups.bump_many(s, bumps))
    with make_sessionmaker(engine)() as s:
        facts = gather(s, as_of=as_of, needs=NEEDS, institution_ids=[old, young])
    first = local_date(as_of - timedelta(days=NEEDS.lookback_days))
    for inst in (old, young):
        got = facts[inst]
        ref = Facts(institution_id=inst, region_code=got.region_code, supervision_mode=got.supervision_mode, created_at=got.created_at,
                    days=_rows(engine, inst, first, local_date(as_of)))  # fmt: skip
        for attr, days, offset in NEEDS.sums:
            expected = ref.total(attr, as_of, days, offset)
            assert got.total(attr, as_of, days, offset) == expected, (attr, days, offset)
        assert own_surge(got, as_of, CFG.prepay_surge) == own_surge(ref, as_of, CFG.prepay_surge)
        assert got.ever_deposited == any(d.deposits_count for d in (ref.days or {}).values())
    assert facts[old].days is None  # only what the knobs name is read for an old one
    with pytest.raises(KeyError):
        facts[old].total("lessons_consumed", as_of, 3)
    attr, days, offset = sorted(NEEDS.sums)[0]
    with pytest.raises(KeyError):  # the sums end at the sweep's day, not at another
        facts[old].total(attr, as_of + timedelta(days=1), days, offset)
