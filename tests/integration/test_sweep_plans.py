"""Reads that must not grow with the history use their indexes, on both databases: the risk
sweep's lessons reported ahead of the timetable (a few of all the lessons in its lookback),
through their partial index; a refund's deposits, through the enrollment's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event

from service.kit.db import make_sessionmaker
from service.risk.sweep import sweep
from tests import factories


def test_lessons_ahead_of_the_timetable_are_read_by_their_index(engine: Engine) -> None:
    factories.institution(engine, factories.bank(engine).id)  # a sweep of nobody reads nothing
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "off_timetable" in statement and statement.lstrip().startswith("SELECT"):
            seen.append((statement, params))

    as_of = datetime.now(UTC)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        with make_sessionmaker(engine)() as s:
            sweep(s, as_of=as_of, now=as_of)
            s.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert seen, "the sweep read no lessons ahead of the timetable"
    statement, params = seen[0]
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            # A test's small table is cheaper to scan: ask whether the index can serve at all.
            c.exec_driver_sql("SET LOCAL enable_seqscan = off")
            c.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            plan = " ".join(str(r[0]) for r in c.exec_driver_sql("EXPLAIN " + statement, params))
        else:
            # SQLite refuses a plan (no query solution) if the index named cannot serve.
            forced = statement.replace(
                "FROM consumptions", "FROM consumptions INDEXED BY ix_consumptions_ahead", 1
            )
            rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + forced, params)
            plan = " ".join(str(r[3]) for r in rows)
    assert "ix_consumptions_ahead" in plan, plan


def test_an_enrollments_deposits_are_read_by_their_index(engine: Engine) -> None:
    """A refund names the payments it returns: read by the enrollment's index, not through
    every deposit ever received."""
    from service.flows.refunds import _original_txns

    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM deposits" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with make_sessionmaker(engine)() as s:
            assert _original_txns(s, "enr_none") == []
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    statement, params = seen[0]
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(r[0]) for r in c.exec_driver_sql("EXPLAIN " + statement, params))
        else:
            rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            plan = " ".join(str(r[3]) for r in rows)
    assert "ix_deposits_enrollment" in plan, plan
