"""Keyset paging, the one way every list pages: rows in the order of an opaque id column,
`limit` at a time, each page starting after the last id of the one before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Paging:
    limit: int = 50
    after: Any | None = None  # the last key of the previous page


@dataclass(frozen=True, kw_only=True)
class Paged(Generic[T]):
    rows: list[T]
    next_after: Any | None  # the key to start the next page after, None at the end


def page_rows(
    session: Session, stmt: Select[tuple[T]], key: InstrumentedAttribute[str], paging: Paging
) -> Paged[T]:
    """One page of `stmt`'s rows in the order of `key` (a unique string column)."""
    stmt = stmt.order_by(key).limit(paging.limit + 1)
    if paging.after is not None:
        stmt = stmt.where(key > str(paging.after))
    rows = list(session.scalars(stmt))
    return cut(rows, paging, lambda r: getattr(r, key.key))


def cut(rows: list[T], paging: Paging, key: Any) -> Paged[T]:
    """`rows` were fetched with limit + 1: the page, and where the next one starts."""
    more = len(rows) > paging.limit
    rows = rows[: paging.limit]
    return Paged(rows=rows, next_after=key(rows[-1]) if more and rows else None)
