"""Appending many rows at once with PostgreSQL's COPY, inside the caller's transaction. The
ledger uses it for large batches of transfers; the service for a bank's batch of deposits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator, TypeEngine

# From this many rows on, COPY is worth its extra round trip: it spends far less per row than
# binding them into one statement or sending one statement each (docs/benchmarks.md: a batch
# of 1,000 transfers 85 → 47 ms, 1,000 deposit rows ~100 → ~10 ms).
COPY_FROM = 64


def copy_rows(conn: Connection, table: Table, rows: Iterable[Sequence[object]]) -> None:
    """COPY `rows` into `table`, each the values of every column in the table's order. `rows`
    may be a generator: the server appends what has been sent while the caller makes the
    next. Errors are raised as SQLAlchemy raises every other database error, so callers and
    retries see one kind.

    Rows travel in COPY's binary format: neither side formats or parses decimals and
    timestamps as text (a third less of psycopg's time per row, measured)."""
    columns = [c.name for c in table.columns]
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    types = [_binary_type(c.type) for c in table.columns]
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def fetch_rows(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """Every row of `stmt` as a plain tuple, for reads of a million rows whose columns need
    no type processing (text, integers, booleans): on PostgreSQL fetched by the driver
    itself, without SQLAlchemy's rows and result processing (about half the time)."""
    if conn.dialect.name != "postgresql":
        return [tuple(r) for r in conn.execute(stmt)]
    # Expanding parameters (an IN list) are rendered here: the driver knows nothing of
    # SQLAlchemy's placeholders for them, and PostgreSQL refused the statement otherwise.
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(str(compiled), compiled.params)
            return list(cur.fetchall())
    except psycopg.Error as exc:
        raise DBAPIError.instance(str(compiled), None, exc, psycopg.Error) from exc


def fetch_driver(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every row of a PostgreSQL statement written for the driver (`%(name)s` placeholders),
    as the driver's own tuples: for a thousand rows SQLAlchemy's result and rows cost as much
    again as the fetch. Errors are raised as SQLAlchemy raises them."""
    if not conn.in_transaction():
        conn.begin()  # as SQLAlchemy begins before a statement of its own: the caller's to end
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(sql, params)
            return list(cur.fetchall())
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
COPY_TRAILER = b"\xff\xff"


def copy_binary(
    conn: Connection, table: str, columns: Sequence[str], chunks: Iterable[bytes]
) -> None:
    """COPY rows already encoded in COPY's binary format (each chunk whole rows, made by the
    caller — in another process, say — so that this one only passes bytes on)."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
    driver = conn.connection.driver_connection
    try:
        with driver.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            copy.write(COPY_HEADER)
            for chunk in chunks:
                copy.write(chunk)
            copy.write(COPY_TRAILER)
    except psycopg.Error as exc:
        raise DBAPIError.instance(sql, None, exc, psycopg.Error) from exc


def _binary_type(t: TypeEngine[Any]) -> str:
    """The PostgreSQL type whose binary form a column of type `t` takes."""
    if isinstance(t, TypeDecorator):
        t = t.impl_instance
    if isinstance(t, DateTime) and not t.timezone:
        return "timestamp"
    for kind, name in _BINARY:
        if isinstance(t, kind):
            return name
    raise TypeError(f"no binary COPY type for {t!r}")


_BINARY: list[tuple[type[TypeEngine[Any]], str]] = [
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Numeric, "numeric"),
    (Boolean, "bool"),
    (DateTime, "timestamptz"),
    (Date, "date"),
    (String, "text"),  # varchar(n) and text share one binary form
    (LargeBinary, "bytea"),
    (JSONB, "jsonb"),  # a document (dict, list) dumped by psycopg as `json.dumps` writes it
    (JSON, "json"),
]
