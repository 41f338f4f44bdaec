"""A bank silent for many schools at once is one notice in the sweep's record, not a case at
each school (issue 35): on a database of its own (the sweep counts every institution in it),
SQLite and PostgreSQL. A bank silent for a few is each school's case, as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from service.fees.working_days import add_working_days
from service.flows.counters import InstitutionDay
from service.flows.models import Statement
from service.kit.clock import SHANGHAI, local_date
from service.kit.db import make_sessionmaker
from service.registry.models import Institution
from service.risk.models import RiskEvaluation
from service.risk.sweep import sweep
from tests import factories


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    return fresh_engine


def _silent_since(engine: Engine, schools: int) -> datetime:
    """`schools` funded schools of one bank, each with its last statement on the same bank
    day; the instant twelve working days after it (past `high_days`, 10)."""
    bank = factories.bank(engine).id
    ids = [factories.institution(engine, bank)[0] for _ in range(schools)]
    last = local_date(datetime.now(UTC)) + timedelta(days=1)
    with make_sessionmaker(engine)() as s, s.begin():
        for inst in s.scalars(select(Institution).where(Institution.id.in_(ids))):
            s.execute(insert(InstitutionDay).values(
                institution_id=inst.id, day=last, deposits_amount=Decimal("400.00"),
                deposits_count=1, enrollments_paid=0, lessons_consumed=0, refund_requests=0,
                complaints=0, prepaid_delta=Decimal("400.00")))  # fmt: skip
            s.execute(insert(Statement).values(
                id=f"st_{uuid.uuid4().hex[:20]}", bank_id=bank, institution_id=inst.id,
                account_no=inst.escrow_account_no, statement_date=last.isoformat(),
                opening_balance=Decimal("0"), closing_balance=Decimal("400.00"),
                ledger_balance=Decimal("400.00"), request_hash=uuid.uuid4().hex,
                status="matched",
                received_at=datetime.combine(last, time(23, 30), tzinfo=SHANGHAI)))  # fmt: skip
    return datetime.combine(add_working_days(last, 12).date, time(12), tzinfo=SHANGHAI)


def _swept(engine: Engine, as_of: datetime) -> tuple[dict[str, Any], list[RiskEvaluation]]:
    with make_sessionmaker(engine)() as s, s.begin():
        out = sweep(s, as_of=as_of, now=as_of)
        rows = list(s.scalars(select(RiskEvaluation).where(RiskEvaluation.as_of == as_of)))
        s.expunge_all()
    return out, rows


def test_a_bank_silent_for_many_is_one_notice_and_no_case(engine: Engine) -> None:
    as_of = _silent_since(engine, 6)
    out, rows = _swept(engine, as_of)
    assert out["alerts_opened"] == 0
    assert out["levels"]["high"] == 0 and out["levels"]["critical"] == 0
    events = [e for e in out["systemic_events"] if e["event"] == "statements_missing"]
    assert len(events) == 1 and events[0]["institutions"] == 6
    for r in rows:
        silence = [i for i in r.indicators if i["code"] == "statement_missing"]
        assert silence and silence[0]["contribution"] == 0 and silence[0]["floor"] is None
        assert "silent on 6 accounts" in silence[0]["note"]


def test_a_bank_silent_for_a_few_is_each_schools_case(engine: Engine) -> None:
    as_of = _silent_since(engine, 4)
    out, rows = _swept(engine, as_of)
    assert out["systemic_events"] == []
    assert out["alerts_opened"] == 4
    assert {r.level for r in rows} == {"high"}
