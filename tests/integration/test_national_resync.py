"""A province copied again after its failover, on the national database (SQLite and
PostgreSQL; service.national.follow): only that province's rollup rows go, the as-of of its
last figures is kept for the page, a second failover during the copy keeps the first's, and
the view leaves the province out until the copy is done."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from service.kit.db import make_sessionmaker, run_in_transaction
from service.national import view
from service.national.follow import Leader, begin_resync, finish_resync
from service.national.models import TABLES, NationalInstitution, NationalProvince, NationalSync

JILIN, LIAONING = "220000", "210000"
ZERO = Decimal("0.00")


def _province(code: str, at: datetime) -> NationalProvince:
    return NationalProvince(province=code, refreshed_at=at, institutions=1, critical=0, high=0,
                            medium=0, low=1, unevaluated=0, escrow=Decimal("10.00"), owed=ZERO,
                            with_statement=0, escrow_reported=ZERO, bank_balance=ZERO,
                            open_alerts=0, open_wind_downs=0)  # fmt: skip


def _institution(code: str, ident: str) -> NationalInstitution:
    return NationalInstitution(province=code, institution_id=ident, name="学校",
                               region_code=code[:2] + "0102", status="active", level="low",
                               score=1, escrow=Decimal("10.00"), owed=ZERO, bank_balance=None,
                               bank_day=None)  # fmt: skip


def _clean(s: Session) -> None:
    for model in (*TABLES, NationalSync):
        s.execute(delete(model).where(model.province.in_((JILIN, LIAONING))))


@pytest.fixture
def two_provinces(engine: Engine) -> Iterator[datetime]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)

    def put(s: Session) -> None:
        _clean(s)
        s.add_all([_province(JILIN, at), _province(LIAONING, at),
                   _institution(JILIN, "inst_j1"), _institution(LIAONING, "inst_l1")])  # fmt: skip

    run_in_transaction(make_sessionmaker(engine), put)
    yield at
    run_in_transaction(make_sessionmaker(engine), _clean)


def test_a_resync_deletes_only_its_province_and_keeps_the_last_as_of(
    engine: Engine, two_provinces: datetime
) -> None:
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    first, second = Leader("7001", 2), Leader("7001", 3)
    run_in_transaction(sessions, lambda s: begin_resync(s, JILIN, first, "timeline 1 to 2",
                                                        now=now))  # fmt: skip
    with sessions() as s:
        for model in TABLES:
            mine = s.scalar(select(func.count()).select_from(model)
                            .where(model.province == JILIN))  # fmt: skip
            assert mine == 0, model.__tablename__
        assert s.get(NationalInstitution, (LIAONING, "inst_l1")) is not None  # untouched
        state = s.get(NationalSync, JILIN)
        assert state is not None and state.state == "resyncing"
        assert state.last_as_of == two_provinces and state.since == now
        assert (state.system_id, state.timeline) == ("7001", 2)
        # the page: Jilin out of the table and the totals, listed as being copied
        lines = view.provinces(s, now=now)
        assert [line.row.province for line in lines] == [LIAONING]
        assert [r.province for r in view.resyncing(s)] == [JILIN]
        assert view.province(s, JILIN, now=now) is None

    # the copy brings Jilin's rows again (here by hand), and a second failover strikes
    # before it is done: the rows go again, the first as-of and start are kept
    later = now + timedelta(seconds=30)

    def copied_then_again(s: Session) -> None:
        s.add_all([_province(JILIN, later), _institution(JILIN, "inst_j1")])
        s.flush()
        begin_resync(s, JILIN, second, "timeline 2 to 3", now=later)

    run_in_transaction(sessions, copied_then_again)
    with sessions() as s:
        state = s.get(NationalSync, JILIN)
        assert state is not None and state.timeline == 3
        assert state.last_as_of == two_provinces and state.since == now
        assert s.get(NationalProvince, JILIN) is None

    def copied(s: Session) -> None:
        s.add(_province(JILIN, later))
        s.flush()
        finish_resync(s, JILIN, now=later)

    run_in_transaction(sessions, copied)
    with sessions() as s:
        shown = [line.row.province for line in view.provinces(s, now=later)]
        assert shown == [LIAONING, JILIN]  # in code order, Jilin's figures back
        assert view.resyncing(s) == []
        state = s.get(NationalSync, JILIN)
        assert state is not None and state.state == "following"


@pytest.mark.parametrize("secret", [":Xy7", "50%off", "a'b"])
def test_the_statements_reach_the_database_as_written(engine: Engine, secret: str) -> None:
    """The follower's own statements (CREATE and DROP SUBSCRIPTION, carrying the province's
    connection string) are sent as written: a password beginning with a colon was read by
    SQLAlchemy as a bind parameter with no value, so the resubscribe failed after the old
    subscription and the province's rows were gone; a percent sign must not be a driver's
    placeholder either. A SELECT of the same literal stands for them (CREATE SUBSCRIPTION
    needs a publisher), on SQLite and PostgreSQL."""
    from service.national.follow import Follower, _literal

    conninfo = f"host=10.0.0.5 user=tg password={secret} dbname=tg"
    Follower(engine, {LIAONING: conninfo})._autocommit([f"SELECT {_literal(conninfo)}"])
