"""What the workbench's pages share: form fields, running a use case from a form, CSV."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Form, Query, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BeforeValidator
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.csv_out import csv_lines
from service.kit.money import Day
from service.kit.wire import Clean
from service.pages import i18n, labels
from service.pages.labels import N_
from service.pages.web import back
from service.policy import approvals

# The API's types for the pages' fields: the same bounds and the same control-character
# refusal (service.kit.wire.Clean; every form field is also checked by PostDep).
Text = Annotated[str, Form(min_length=1, max_length=2000), Clean]
Opt = Annotated[str | None, Query(max_length=100), Clean]


def _blank_is_none(value: object) -> object:
    """A filter form sends an empty field for a day not picked: no day, not a bad one."""
    return None if value == "" else value


DayQuery = Annotated[Day | None, BeforeValidator(_blank_is_none), Query()]
PER_PAGE = 50
PageNo = Annotated[int, Query(ge=1, le=10_000)]


def paging(request: Request, path: str, page: int, total: int) -> dict[str, Any]:
    """What the pager macro needs: this page, how many, and each page's address (the same
    filters, another page)."""
    query = {k: v for k, v in request.query_params.items() if k not in ("page", "done", "problem")}
    return {
        "page": page,
        "pages": (total + PER_PAGE - 1) // PER_PAGE,
        "total": total,
        "page_url": lambda n: query_url(path, {**query, "page": n}),
    }


def act(session: Session, to: str, action: Callable[[], object], done: str) -> RedirectResponse:
    """Run one use case from a form; back to the page with what happened, or with the
    refusal's words. A refused use case leaves nothing behind: it ran in a savepoint. What
    the regulator may not touch (another region's: not found; not theirs: forbidden) is no
    refusal to show on the page: it is the error page, as the API would answer it."""
    try:
        with session.begin_nested():
            outcome = action()
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return back(to, problem=refusal(exc))
    if waits(outcome):
        return back(to, done=SUBMITTED)
    return back(to, done=done)


# What a form says when its action waits for a second person (four eyes).
SUBMITTED = N_("Submitted for approval: a supervisor decides it in the approvals queue.")


def waits(outcome: object) -> bool:
    """Whether a use case's outcome (or any of several) is a request waiting for approval."""
    if isinstance(outcome, list | tuple):
        return any(waits(o) for o in outcome)
    return isinstance(outcome, approvals.Pending)


def bulk(
    session: Session, to: str, ids: list[str], action: Callable[[str], object], lang: str
) -> RedirectResponse:
    """Run one use case for each of a selection, each in its own savepoint (a refused one
    leaves nothing behind, the others stand); back to the page saying how many were done and
    why any was refused. What the regulator may not touch is the error page, as in `act`,
    and then nothing of the selection is kept (the request's transaction is rolled back)."""
    _ = i18n.gettext(lang)
    done, refused = 0, []
    for item in dict.fromkeys(ids):  # each once, in the order chosen
        try:
            with session.begin_nested():
                action(item)
        except DomainError as exc:
            if exc.status in (401, 403, 404):
                raise
            refused.append(_(refusal(exc)))
        else:
            done += 1
    told = _("Decided: %(n)s.") % {"n": done}
    if not refused:
        return back(to, done=told)
    why = _("Refused: %(n)s (%(why)s).") % {"n": len(refused), "why": refused[0]}
    return back(to, problem=f"{told} {why}")


def local_path(path: str) -> str:
    """Only a path of this site (no open redirect)."""
    return path if path.startswith("/") and not path.startswith("//") else "/workbench"


def refusal(exc: DomainError) -> str:
    """What the page says of a refusal: the page's own words where it made them (`shown`),
    else its code's in labels.REFUSALS (English, translated where the page is drawn), never
    the API's English detail."""
    if exc.extra.get("shown"):
        return exc.detail
    return labels.REFUSALS.get(exc.code, labels.REFUSALS["invalid_state"])


def query_url(path: str, query: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in query.items() if v not in (None, "")}
    return path + (f"?{urlencode(kept)}" if kept else "")


def csv_response(name: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingResponse:
    """A CSV streamed row by row by the one writer of every export (`service.kit.csv_out`:
    no cell a spreadsheet would evaluate as a formula)."""
    return StreamingResponse(
        csv_lines(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
