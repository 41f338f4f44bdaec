"""One leader among three schedulers while the leader's database connection is cut (the
reliability issue: single scheduler leader under faults), on PostgreSQL. The ten-minute run
with five cuts is `bench/leader.py`."""

from __future__ import annotations

import pytest

from service.kit.db import make_engine
from service.kit.migrate import upgrade
from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.leadership import exercise


@pytest.mark.xdist_group("scheduler")
def test_one_run_per_slot_and_fast_failover_when_the_leaders_connection_is_cut() -> None:
    url = create_pg_database()
    try:
        upgrade(url)
        engine = make_engine(url)
        try:
            out = exercise(engine, url, processes=3, kills=2, crashes=1, every=4.0)
        finally:
            engine.dispose()
    finally:
        drop_pg_database(url)
    assert out.kills == 2 and out.crashes == 1
    assert out.handovers >= 1  # the crash passed leadership to another process
    assert out.duplicate_slots == 0 and out.overlaps == []
    assert max(out.failovers) < 30, out.failovers
    assert out.runs >= 20
