"""Dependencies every router uses: the request's session (one transaction, committed before
the response is sent), the clock, settings, and pagination."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.kit.db import session_scope
from service.kit.wire import has_control


def _session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessions) as session:
        yield session


# scope="function": commit happens before the response is sent, so a failed commit can never
# follow an acknowledged request.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _now(request: Request) -> datetime:
    clock = request.app.state.clock
    now: datetime = clock()
    return now


NowDep = Annotated[datetime, Depends(_now)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


@dataclass(frozen=True)
class Page:
    limit: int
    after: Any | None


def _page(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page:
    after = None
    if cursor:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise DomainError("validation_error", "cursor is not one this API issued") from exc
        # Cursors this API issues hold an id or a list of sort keys, never control characters.
        if not isinstance(after, str | int | list) or has_control(after):
            raise DomainError("validation_error", "cursor is not one this API issued")
    return Page(limit, after)


PageDep = Annotated[Page, Depends(_page)]


def make_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def paginate(items: list[Any], page: Page, key: Any) -> dict[str, Any]:
    """`items` were fetched with limit+1; return the page and a cursor after its last item."""
    more = len(items) > page.limit
    items = items[: page.limit]
    return {"items": items, "next_cursor": make_cursor(key(items[-1])) if more and items else None}


def page_of(session: Any, stmt: Any, id_col: Any, page: Page, view: Any) -> dict[str, Any]:
    """One page of `stmt`, in the order of its opaque id column, each row shown by `view`:
    the one way every list endpoint pages."""
    stmt = stmt.order_by(id_col).limit(page.limit + 1)
    if page.after is not None:
        stmt = stmt.where(id_col > str(page.after))
    rows = list(session.scalars(stmt))
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    cursor = make_cursor(getattr(rows[-1], id_col.key)) if more and rows else None
    return {"items": [view(r) for r in rows], "next_cursor": cursor}
