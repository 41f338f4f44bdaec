"""The pool hands out a live connection without asking the server: SQLAlchemy's pre-ping was
a round trip per checkout (per request), as dear as a statement. A connection the server
has ended is still never handed out: the pool opens a new one in its place."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine

from service.kit.db import make_engine


def pg_engine(database_url: str, backend: str) -> Engine:
    if backend != "postgresql":
        pytest.skip("PostgreSQL's connections")
    return make_engine(database_url, pool_size=1, max_overflow=0)


def test_a_checkout_sends_nothing(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = pg_engine(database_url, backend)
    with engine.connect() as c:
        c.exec_driver_sql("SELECT 1")
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def spy(self: psycopg.Cursor[Any], query: Any, *args: Any, **kw: Any) -> Any:
        sent.append(str(query))
        return execute(self, query, *args, **kw)

    monkeypatch.setattr(psycopg.Cursor, "execute", spy)
    with engine.connect() as c:
        c.connection  # noqa: B018 - the checkout itself
    monkeypatch.undo()
    engine.dispose()
    assert sent == []


def test_a_connection_the_server_ended_is_replaced(database_url: str, backend: str) -> None:
    engine = pg_engine(database_url, backend)
    with engine.connect() as c:
        pid = c.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with engine.connect() as c:  # the same connection, from the pool
        assert c.exec_driver_sql("SELECT pg_backend_pid()").scalar() == pid
    with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(False)) as k:
        k.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # until the server has ended it
            if not k.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
                break
            time.sleep(0.02)
    with engine.connect() as c:
        assert c.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    engine.dispose()
