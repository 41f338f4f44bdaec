"""Daily rollups: upserts add to the day's row, several in one statement, by Beijing day."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from service.flows import counters as rollups
from service.flows.counters import InstitutionDay
from service.kit.clock import SHANGHAI
from service.kit.db import make_sessionmaker, run_in_transaction
from tests import factories


def rows(engine: Engine, inst: str) -> dict[date, tuple[int, Decimal, int]]:
    with make_sessionmaker(engine)() as s:
        return {
            r.day: (r.deposits_count, r.deposits_amount, r.complaints)
            for r in s.scalars(select(InstitutionDay).where(InstitutionDay.institution_id == inst))
        }


def test_bump_many_adds_per_institution_and_beijing_day(engine: Engine) -> None:
    bank = factories.bank(engine)
    inst, _ = factories.institution(engine, bank.id)
    morning = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
    late = datetime(2026, 11, 23, 23, 30, tzinfo=SHANGHAI)  # still the 23rd in Beijing
    next_day_utc = datetime.fromisoformat("2026-11-23T17:30:00+00:00")  # 01:30 on the 24th
    sessions = make_sessionmaker(engine)
    run_in_transaction(
        sessions, lambda s: rollups.bump(s, institution_id=inst, at=morning, complaints=1)
    )
    run_in_transaction(
        sessions,
        lambda s: rollups.bump_many(
            s,
            [
                (inst, morning, {"deposits_count": 1, "deposits_amount": Decimal("10.05")}),
                (inst, morning, {"deposits_count": 2, "deposits_amount": Decimal("0.95")}),
                (inst, next_day_utc, {"deposits_count": 1, "deposits_amount": Decimal("3.00")}),
                (inst, late, {"complaints": 2}),
            ],
        ),
    )
    assert rows(engine, inst) == {
        date(2026, 11, 23): (3, Decimal("11.00"), 3),
        date(2026, 11, 24): (1, Decimal("3.00"), 0),
    }
    with pytest.raises(KeyError):
        run_in_transaction(
            sessions,
            lambda s: rollups.bump_many(
                s, [(inst, morning, {"complaints": 1}), (inst, morning, {"no_such": 1})]
            ),
        )
    assert rows(engine, inst)[date(2026, 11, 23)] == (3, Decimal("11.00"), 3)
