"""Dependencies every router uses: the request's session (one transaction, committed before
the response is sent), the clock, settings, and pagination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import BackgroundTasks, Depends, Query, Request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from service.api.schemas import Page
from service.config import Settings
from service.errors import DomainError
from service.kit.paging import Paged, Paging
from service.kit.replica import WROTE_COOKIE, Freshness, Reads


def _session(request: Request) -> Iterator[Session]:
    """The request's one transaction: committed as its answer leaves, before anything is sent
    (`service.api.transactions`); rolled back, before the error is answered, if the route
    raised."""
    session: Session = request.app.state.sessions()
    request.state.session = session
    try:
        yield session
    except BaseException:
        request.state.session = None  # nothing of it is kept
        session.rollback()
        raise
    finally:
        session.close()


def _read_session(request: Request, session: SessionDep) -> Iterator[Session]:
    """A session for reads that may lag (`service.kit.replica`): the replica's while it is
    close enough behind, else the request's own (the primary's). Nothing that decides about
    money takes it: a route that writes never does (tests/unit/test_read_replica_rule.py).
    A replica that fails mid-read is set aside until it is measured again."""
    reads: Reads = request.app.state.reads
    factory, request.state.freshness = reads.pick()
    if factory is not None and WROTE_COOKIE in request.cookies:
        factory, request.state.freshness = None, Freshness(replica=False, lag_seconds=0.0)
    if factory is None:
        yield session
        return
    replica = factory()
    try:
        yield replica
    except DBAPIError:
        reads.failed()
        raise
    finally:
        replica.close()


ReadSessionDep = Annotated[Session, Depends(_read_session)]


R = TypeVar("R")
T = TypeVar("T")

SessionDep = Annotated[Session, Depends(_session)]


def _now(request: Request) -> datetime:
    clock = request.app.state.clock
    now: datetime = clock()
    return now


NowDep = Annotated[datetime, Depends(_now)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _deliver_later(request: Request, tasks: BackgroundTasks) -> Callable[[], None]:
    """Push new instructions to their banks once the response (and so the commit) is done:
    an endpoint that may have made one calls what this gives it."""

    def later() -> None:
        from service.bank_gateway.delivery import deliver_pending

        tasks.add_task(
            deliver_pending,
            request.app.state.sessions,
            settings=request.app.state.settings,
            clock=request.app.state.clock,
        )

    return later


DeliverLaterDep = Annotated[Callable[[], None], Depends(_deliver_later)]


# A cursor is the id of the last item of the page before (keyset paging): any string of these
# characters is a position in a list ordered by id, so every cursor the document allows is
# one the service takes (a made-up one pages from wherever it falls, or gives an empty page).
CURSOR = "^[A-Za-z0-9_-]{1,100}$"


def _page(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR,
            max_length=100,
            description="`next_cursor` of the page before: the id of its last item",
        ),
    ] = None,
) -> Paging:
    return Paging(limit=limit, after=cursor or None)


PageDep = Annotated[Paging, Depends(_page)]


def make_cursor(value: Any) -> str:
    return str(value)


def page_of(paged: Paged[R], read: Callable[[R], T]) -> Page[T]:
    """A domain page as a response: each row read by `read`, the next page's cursor."""
    cursor = make_cursor(paged.next_after) if paged.next_after is not None else None
    return Page[T](items=[read(r) for r in paged.rows], next_cursor=cursor)


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route and its dependencies declare."""
    names = {p.alias for p in getattr(dependant, "query_params", [])}
    for sub in getattr(dependant, "dependencies", []):
        names |= _query_names(sub)
    return names


def known_query_only(request: Request) -> None:
    """An API request names only query parameters its operation declares: a misspelt filter
    (`?stauts=open`) is refused, not silently ignored to list everything."""
    route = request.scope.get("route")
    allowed = _query_names(getattr(route, "dependant", None))
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise DomainError(
            "validation_error",
            f"unknown query parameter {unknown[0]!r}; this operation takes: "
            f"{', '.join(sorted(allowed)) or 'none'}",
        )
