"""Engine, sessions, and the one transaction per request or job."""

from __future__ import annotations

import gc
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Connection, Engine, MetaData, Table, bindparam, create_engine, event, update
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from ledger import copy_rows, is_retryable
from ledger.bulk import COPY_FROM
from ledger.schema import metadata as ledger_metadata

T = TypeVar("T")

NEVER_PREPARE_ON_ITS_OWN = 2**62  # psycopg's count of runs before it prepares a statement


class Base(DeclarativeBase):
    """The service's own tables. The ledger's tables live in `ledger.schema.metadata`."""

    metadata = MetaData(naming_convention=ledger_metadata.naming_convention)


# How many blocks hold the collector off now, and whether it was on before the first: the
# collector is process-wide, and a batch's request, a round and the scheduler's sweep run in
# threads of one process, so their pauses overlap.
_pause_lock = threading.Lock()
_pauses = 0
_was_on = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a use case builds tens of thousands of rows at once
    (a wind-down's claims, a round's payments, a bank's batch, a risk sweep): every row
    allocated triggers collections that walk the whole growing heap, and none of these rows
    form cycles to collect. Measured on a round of 4,000 claims (docs/benchmarks.md): a
    quarter of its time went to collections. Counted, not toggled: the collector is back on
    when the last overlapping block ends, however it ends, and only if it was on before the
    first (a block ending while another runs leaves it off for the other)."""
    global _pauses, _was_on
    with _pause_lock:
        if _pauses == 0:
            _was_on = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _was_on:
                gc.enable()


def insert_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert new rows in the session's transaction: COPY on PostgreSQL for many rows (the
    ledger's `copy_rows`), one executemany otherwise."""
    conn = session.connection()
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_FROM:
        names = [c.name for c in table.columns]
        copy_rows(conn, table, ([r[c] for c in names] for r in rows))
    elif rows:
        conn.execute(table.insert(), rows)


def update_many(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Set each row's values on the row of `table` with its primary key, in the session's
    transaction. On PostgreSQL one statement over the values sent as arrays, in binary (a
    thousand UPDATEs, even pipelined, cost twice as much); one executemany otherwise. Copies
    of those rows the session already holds as objects are expired, so they are read again."""
    if not rows:
        return
    (key,) = table.primary_key.columns
    names = [c for c in rows[0] if c != key.name]
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name == "postgresql":
        params: dict[str, Any] = {}
        arrays = []
        for i, column in enumerate([key, *(table.c[c] for c in names)]):
            process = column.type.bind_processor(dialect)
            values = [r[column.name] for r in rows]
            values = _processed(process, values) if process else values
            if all(isinstance(v, Decimal) for v in values):
                # Money as a numeric[] literal: psycopg dumps a Decimal in binary at about
                # 3 us (a batch's 1,000 amounts paid: 3 ms), `str` is exact and 40 times faster.
                params[f"p{i}"] = "{" + ",".join(map(str, values)) + "}"
                arrays.append(f"%(p{i})t::{column.type.compile(dialect)}[]")
                continue
            params[f"p{i}"] = values
            arrays.append(f"%(p{i})b::{column.type.compile(dialect)}[]")  # binary: see ledger
        updated = conn.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {', '.join(f'{c} = v.{c}' for c in names)} "
            f"FROM unnest({', '.join(arrays)}) AS v({key.name}, {', '.join(names)}) "
            f"WHERE t.{key.name} = v.{key.name}",
            params,
        ).rowcount
    else:
        stmt = (
            update(table)
            .where(key == bindparam("k_" + key.name))
            .values({c: bindparam("k_" + c) for c in names})
        )
        updated = conn.execute(stmt, [{"k_" + c: v for c, v in r.items()} for r in rows]).rowcount
    if updated != len(rows):
        raise LookupError(f"{updated} of {len(rows)} rows of {table.name} found to update")
    ids = {r[key.name] for r in rows}
    for state in session.identity_map.all_states():
        if state.mapper.local_table is table and state.identity and state.identity[0] in ids:
            session.expire(state.obj())


def _processed(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """A column's bind processor on each value; once per distinct value when all are of one
    type (a batch's rows share amounts and instants: the money check and quantizing of 1,000
    amounts paid cost 0.9 ms, of their few distinct values 0.09). One type only: a float among
    decimals would compare equal to one and escape the money check that refuses it."""
    if len(set(map(type, values))) == 1:
        try:
            once = {v: process(v) for v in set(values)}
        except TypeError:  # unhashable values: each in turn
            pass
        else:
            return [once[v] for v in values]
    return [process(v) for v in values]


def normalise_url(url: str) -> str:
    """Accept the URLs people paste: `postgres://` and `postgresql://` mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, scratch: bool = False, **kwargs: Any) -> Engine:
    """`scratch`: a SQLite file thrown away after one run (a backtest's, a simulation's), so
    no write waits for the disk and the journal stays in memory; a crash loses the run,
    which is started again. Never for a database that keeps anything."""
    url = normalise_url(url)
    # Errors and logs never carry bound values: they include access-code hashes, tokens'
    # hashes and parents' references.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=kwargs["hide_parameters"],
        )
        _configure_sqlite(engine, scratch=scratch)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 10)
        # The connection returned last is handed out first: after a burst, work keeps to the
        # few connections whose server processes have warm caches and psycopg's prepared
        # statements, instead of cycling through all of them (measured: a batch of deposits
        # cost a fifth more CPU after 32 concurrent clients had widened the pool).
        kwargs.setdefault("pool_use_lifo", True)
    # A connection is checked before the pool hands it out, without the round trip of
    # SQLAlchemy's pre-ping (one per request, the size of a whole statement): `_alive`.
    # `pool_pre_ping=True` still asks for the ping; False for neither.
    checked = kwargs.setdefault("pool_pre_ping", None) is None
    kwargs["pool_pre_ping"] = bool(kwargs["pool_pre_ping"])
    # psycopg would prepare a statement after five runs, and PostgreSQL then plans it once for
    # any parameters (a generic plan) if that looks no dearer. Planned for the one-element
    # arrays of single deposits, the replay lookup of a bank's batch ran as a scan of all the
    # bank's deposits (measured: 100-330 ms where it takes 1). So psycopg never prepares a
    # statement on its own (a threshold no count reaches; None would also refuse an explicit
    # `prepare=True`): statements are planned for the parameters at hand (a fraction of a
    # millisecond). The one statement prepared is the ledger's single-transfer call, by
    # name (`ledger.wire.call_single`): a function call has one plan whatever its
    # arguments, and the plans inside the function stay cached, which its throughput
    # depends on.
    #
    # The planner is also told that a page read at random costs little more than one read in
    # sequence (random_page_cost 1.1, the usual setting for SSDs and for data that stays in
    # memory, against 4 for spinning disks). With the default, a thousand primary-key probes
    # look dearer than reading a table of tens of thousands of rows, so a bank's batch updated
    # its enrollments and accounts by scanning and hashing both whole tables (measured: 20-30
    # ms each per 1,000 rows, growing with the tables, against 5-9 ms by index).
    #
    # And no JIT: it compiles a query's expressions once its estimated cost passes a line that
    # the workbench's aggregates over 10,000 institutions cross, and the compiling took longer
    # than the queries saved (measured: 33 ms of a 230 ms query; the service's queries are
    # short, and none runs long enough to repay it).
    kwargs["connect_args"] = {
        "prepare_threshold": NEVER_PREPARE_ON_ITS_OWN,
        "options": "-c random_page_cost=1.1 -c jit=off",
        **kwargs.get("connect_args", {}),
    }
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Lists (the array parameters of `ledger.one_of`: a bank's batch sends several of a
        # thousand values) travel in binary: psycopg's text format checks every element for
        # quoting, three times the cost.
        dbapi_conn.adapters.register_dumper(list, ListBinaryDumper)

    if checked:
        event.listen(engine, "checkout", _alive)
    return engine


def _alive(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled connection whose server has gone (restarted, or ended the session):
    the pool then opens a new one. Told without a round trip: an idle connection has nothing
    to read, and one the server closed has its goodbye or the end of the stream waiting on
    its socket. (Anything else waiting unasked is no reason to keep it either.)"""
    if dbapi_conn.closed or dbapi_conn.broken:
        raise DisconnectionError("the connection is closed")
    try:
        waiting = select.select([dbapi_conn.pgconn.socket], [], [], 0)[0]
    except (OSError, ValueError, psycopg.OperationalError) as exc:
        raise DisconnectionError("the connection's socket is gone") from exc
    if waiting:
        raise DisconnectionError("the server spoke unasked: it is closing the connection")


def _configure_sqlite(engine: Engine, *, scratch: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so that BEGIN IMMEDIATE below
        # takes the write lock up front: two writers then queue instead of deadlocking.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        if scratch:  # measured: a year's replay of 100 schools a twelfth faster
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA journal_mode=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def refresh_statistics(conn: Connection) -> None:
    """Let SQLite's planner see the tables as they are now. It keeps no statistics until
    ANALYZE runs, and without them it guessed an institution's whole index of lessons
    narrower than a fortnight of its dispute dates (measured on a year's replay: the risk
    sweep 219 ms before, 131 ms after). `analysis_limit` samples each index, so the cost
    stays flat as the tables grow. PostgreSQL's autovacuum keeps its own statistics."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA analysis_limit=400")
        conn.exec_driver_sql("ANALYZE")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit if the block returns, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def run_in_transaction(
    factory: sessionmaker[Session], work: Callable[[Session], T], *, attempts: int = 5
) -> T:
    """For jobs and CLI commands: one transaction, retried when the database says so."""
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(factory) as session:
                return work(session)
        except DBAPIError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
    raise AssertionError("unreachable")
