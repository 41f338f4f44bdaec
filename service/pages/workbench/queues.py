"""Refunds and disputed lessons to decide, reconciliation to review, complaints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field

from service.api.deps import DeliverLaterDep, NowDep, ReadSessionDep, SessionDep
from service.errors import DomainError
from service.flows import complaints, consumptions, refunds, statements
from service.kit.clock import local_date
from service.kit.paging import Paging
from service.pages import reads
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import (
    PER_PAGE,
    DayQuery,
    Opt,
    PageNo,
    Text,
    act,
    bulk,
    local_path,
    paging,
    query_url,
)
from service.registry.institutions import scoped_ids
from service.registry.models import Bank

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/disputes", response_class=HTMLResponse)
def disputes(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
    kind: Annotated[Literal["refunds", "lessons"], Query()] = "refunds",
    institution: Opt = None,
    district: Opt = None,
    page: PageNo = 1,
) -> HTMLResponse:
    """Refunds (or disputed lessons) waiting for a decision: one kind a page, grouped by
    institution, filtered by institution and district, paged; decided a selection at once."""
    rows, total = reads.decisions(
        session, regulator=signed.regulator, now=now, kind=kind, institution_id=institution or None,
        district=district or None, page=page, per_page=PER_PAGE,
    )  # fmt: skip
    counts, institutions = reads.decision_counts(
        session, regulator=signed.regulator, now=now, district=district or None
    )
    return render(
        request,
        "disputes.html",
        lang,
        signed=signed,
        kind=kind,
        rows=rows,
        groups=_grouped(rows),
        counts=counts,
        institutions=institutions,
        institution=institution,
        district=district,
        now=now,
        **paging(request, "/workbench/disputes", page, total),
    )


def _grouped(rows: list[reads.Decision]) -> list[tuple[Any, list[reads.Decision]]]:
    """The page's rows under their institutions (they come sorted by institution)."""
    out: list[tuple[Any, list[reads.Decision]]] = []
    for row in rows:
        if not out or out[-1][0].id != row.institution.id:
            out.append((row.institution, []))
        out[-1][1].append(row)
    return out


# A selection is one page's worth at most: each item is its own use case, audited.
MAX_SELECTED = PER_PAGE
Selected = Annotated[
    list[Annotated[str, Field(max_length=40)]], Form(min_length=1, max_length=MAX_SELECTED)
]


@router.post("/refunds/decide")
def decide_refunds(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    deliver_later: DeliverLaterDep,
    ids: Selected,
    decision: Annotated[refunds.Decision, Form()],
    reason: Text,
    back_to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    """One decision and one reason for the selected refunds: each is decided by its own call
    of the use case (its own check, its own audit record); a refused one is told, the others
    stand."""

    def one(refund_id: str) -> None:
        refunds.decide(session, regulator=signed.regulator, refund_id=refund_id,
                       decision=decision, reason=reason, now=now)  # fmt: skip

    out = bulk(session, local_path(back_to or "/workbench/disputes"), ids, one, lang)
    deliver_later()  # the approved refunds' instructions go to the bank after the commit
    return out


@router.post("/lessons/decide")
def decide_lessons(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    ids: Selected,
    decision: Annotated[consumptions.Decision, Form()],
    reason: Text,
    back_to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    """One decision and one reason for the selected disputed lessons, each its own use case."""

    def one(consumption_id: str) -> None:
        consumptions.decide(session, regulator=signed.regulator, consumption_id=consumption_id,
                            decision=decision, reason=reason, now=now)  # fmt: skip

    return bulk(session, local_path(back_to or "/workbench/disputes?kind=lessons"), ids, one, lang)


@router.post("/refunds/{refund_id}/decide")
def decide_refund(
    refund_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
    decision: Annotated[refunds.Decision, Form()],
    reason: Text,
) -> RedirectResponse:
    def work() -> None:
        refunds.decide(
            session,
            regulator=signed.regulator,
            refund_id=refund_id,
            decision=decision,
            reason=reason,
            now=now,
        )
        deliver_later()  # an approved refund's instruction goes to the bank after the commit

    return act(session, "/workbench/disputes", work, N_("The refund is decided."))


@router.post("/lessons/{consumption_id}/decide")
def decide_lesson(
    consumption_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    decision: Annotated[consumptions.Decision, Form()],
    reason: Text,
) -> RedirectResponse:
    return act(
        session,
        "/workbench/disputes",
        lambda: consumptions.decide(
            session,
            regulator=signed.regulator,
            consumption_id=consumption_id,
            decision=decision,
            reason=reason,
            now=now,
        ),
        N_("The lesson is decided."),
    )


@router.get("/reconciliation", response_class=HTMLResponse)
def reconciliation(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
    day: DayQuery = None,
    bank: Opt = None,
    page: PageNo = 1,
) -> HTMLResponse:
    """Without a day: every statement with breaks not yet reviewed, of any day, by
    institution. With one: every escrow account's statement of that bank day."""
    banks = list(session.query(Bank).order_by(Bank.name))
    common: dict[str, Any] = {"banks": banks, "bank": bank}
    if day is None:
        groups, total = reads.unreviewed(
            session, regulator=signed.regulator, bank_id=bank or None, page=page, per_page=PER_PAGE
        )
        return render(
            request,
            "reconciliation.html",
            lang,
            signed=signed,
            groups=groups,
            the_day=None,
            yesterday=local_date(now) - timedelta(days=1),
            **common,
            **paging(request, "/workbench/reconciliation", page, total),
        )
    rows = reads.reconciliation(session, regulator=signed.regulator, day=day, bank_id=bank or None)
    return render(
        request,
        "reconciliation.html",
        lang,
        signed=signed,
        rows=rows,
        the_day=day,
        yesterday=day,
        **common,
    )


@router.post("/statements/{statement_id}/review")
def review(
    statement_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    back_to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    return act(
        session,
        local_path(back_to or "/workbench/reconciliation"),
        lambda: statements.review(
            session, regulator=signed.regulator, statement_id=statement_id, now=now
        ),
        N_("Marked reviewed."),
    )


@router.get("/complaints", response_class=HTMLResponse)
def complaint_list(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    lang: LangDep,
    category: Opt = None,
    institution_id: Opt = None,
    page: PageNo = 1,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Every complaint of the region, reachable: the groups by institution and category (most
    parents first) paged, and the complaints newest first, paged by a cursor."""
    scope = scoped_ids(signed.regulator)
    f = complaints.Filters(category=category or None, institution_id=institution_id or None)
    groups, total = complaints.groups(session, scope=scope, filters=f, page=page, per_page=PER_PAGE)
    found = complaints.newest(
        session,
        scope=scope,
        filters=f,
        paging=Paging(limit=PER_PAGE, after=_complaint_cursor(cursor)),
    )
    query = {"category": f.category, "institution_id": f.institution_id}
    older = None
    if found.next_after is not None:
        at, cid = found.next_after
        mark = f"{_utc(at).isoformat()}|{cid}"
        older = query_url("/workbench/complaints", {**query, "page": page, "cursor": mark})
    return render(
        request,
        "complaints.html",
        lang,
        signed=signed,
        recent=found.rows,
        groups=groups,
        category=f.category,
        institution_id=f.institution_id,
        older_url=older,
        first_url=query_url("/workbench/complaints", query) if cursor else None,
        **paging(request, "/workbench/complaints", page, total),
    )


@router.post("/complaints/{complaint_id}/handle")
def handle_complaint(
    complaint_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    back_to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    """Marked handled: the complaint is no longer open, and its parent may file another of
    its kind."""
    return act(
        session,
        local_path(back_to or "/workbench/complaints"),
        lambda: complaints.handle(
            session, regulator=signed.regulator, complaint_id=complaint_id, now=now
        ),
        N_("Marked handled."),
    )


def _complaint_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (instant, id) an "older" link carries; anything else is refused, not guessed."""
    if not cursor:
        return None
    at, _, cid = cursor.partition("|")
    try:
        given = datetime.fromisoformat(at)
        instant = given.astimezone(UTC) if given.tzinfo is not None else None
    except (ValueError, OverflowError):  # not an instant; or one past the calendar's ends
        instant = None
    if instant is None or not 2000 <= instant.year <= 2099 or not cid.startswith("cmp_"):
        raise DomainError("validation_error", "cursor: not one this page gave")
    return instant, cid


def _utc(at: datetime) -> datetime:
    """SQLite hands instants back naive (they are UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
