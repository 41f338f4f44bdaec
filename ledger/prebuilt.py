"""Upserts that SQLAlchemy would compile again on every run.

SQLAlchemy cannot key `INSERT … ON CONFLICT` for its statement cache (2.0: the conflict
clause has no cache key), so such a statement, even built once, is compiled anew each time it
runs: about a third of a millisecond, more than the indexed write itself, on paths that run
for every deposit, lesson and enrollment. Compiled once per dialect into text with typed
parameters, it is keyed by its text and cached like any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import TextualSelect

# Named parameters, the form `text()` reads; psycopg2's compiler, which writes no casts after
# them (`:day::DATE` is not a parameter to `text()`); psycopg needs none for these types.
_DIALECTS = {
    "postgresql": postgresql.dialect(paramstyle="named"),  # type: ignore[no-untyped-call]
    "sqlite": sqlite.dialect(paramstyle="named"),
}


def prebuilt(
    stmt: Insert, dialect_name: str, returning: tuple[ColumnElement[Any], ...] = ()
) -> TextClause | TextualSelect:
    """`stmt` as the text it compiles to on `dialect_name`, its parameters keeping their types
    (money and dates are converted as before); `returning` types the rows it returns."""
    compiled = stmt.compile(dialect=_DIALECTS[dialect_name])
    clause = text(str(compiled)).bindparams(
        *(bindparam(name, type_=bind.type) for name, bind in compiled.binds.items())
    )
    return clause.columns(*returning) if returning else clause
