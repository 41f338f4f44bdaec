"""Matching a column against a list of values that may be a thousand long."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement


def one_of(
    conn: Connection,
    column: ColumnElement[Any] | QueryableAttribute[Any],
    values: Iterable[Any],
) -> ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL the values travel as one array parameter: an
    expanded IN list is one placeholder per value, which SQLAlchemy renders and psycopg parses
    again on every call (for a bank's batch of 1,000, several milliseconds per statement), and
    whose text differs with every length, so no plan is ever reused."""
    listed = list(values)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=ARRAY(column.type)))
    return column.in_(listed)


def listed(column: ColumnElement[Any], name: str, *, postgresql: bool) -> ColumnElement[bool]:
    """`column IN (:name)` for a statement built once and run with `{name: [values]}`: the
    same choice as `one_of` (one array parameter on PostgreSQL), for statements kept
    prebuilt because building and keying them cost more than running them."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
