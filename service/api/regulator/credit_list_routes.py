"""The lists a regulator keeps that a pack's entry gate refuses prepaid sales on
(docs/rules.md, entry gate): read, add and remove, for a regulator of the institution's
region, audited (service.policy.credit_lists)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep
from service.api.problems import refusals
from service.api.schemas import Read
from service.kit.money import InstantOut
from service.kit.wire import Strict
from service.policy import credit_lists
from service.policy.models import CreditListEntry

router = APIRouter(tags=["regulator"])
ListName = Literal["dishonest_debtors", "abnormal_operations"]


class CreditListEntryRead(Read):
    id: str
    list: str
    institution_id: str
    reason: str
    listed_at: InstantOut
    listed_by: str
    removed_at: InstantOut | None
    removed_by: str | None
    removal_reason: str | None

    @classmethod
    def of(cls, e: CreditListEntry) -> CreditListEntryRead:
        return cls(id=e.id, list=e.list_name, institution_id=e.institution_id, reason=e.reason,
                   listed_at=e.listed_at, listed_by=e.listed_by, removed_at=e.removed_at,
                   removed_by=e.removed_by, removal_reason=e.removal_reason)  # fmt: skip


class CreditListEntriesRead(Read):
    items: list[CreditListEntryRead]


class CreditListChangeIn(Strict):
    list: ListName
    institution_id: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=2000)


@router.get("/credit-lists", response_model=CreditListEntriesRead)
def listed(
    regulator: RegulatorDep,
    session: SessionDep,
    list_name: Annotated[ListName | None, Query(alias="list")] = None,
) -> CreditListEntriesRead:
    """The institutions of the regulator's region on a list now (or on either), newest first."""
    rows = credit_lists.entries(session, regulator=regulator, list_name=list_name)
    return CreditListEntriesRead(items=[CreditListEntryRead.of(e) for e in rows])


@router.post(
    "/credit-lists/entries",
    status_code=201,
    response_model=CreditListEntryRead,
    responses=refusals("not_found"),
)
def add(
    body: CreditListChangeIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> CreditListEntryRead:
    """Put an institution of the region on a list, with a reason (already on it: that entry).
    While on a list its pack's entry gate names, it takes no prepayment (409 `credit_listed`)."""
    entry = credit_lists.add(
        session, regulator=regulator, list_name=body.list, institution_id=body.institution_id,
        reason=body.reason, now=now,
    )  # fmt: skip
    return CreditListEntryRead.of(entry)


@router.post(
    "/credit-lists/removals",
    response_model=CreditListEntryRead,
    responses=refusals("not_found"),
)
def remove(
    body: CreditListChangeIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> CreditListEntryRead:
    """Take an institution of the region off a list, with a reason; 404 if it is not on it."""
    entry = credit_lists.remove(
        session, regulator=regulator, list_name=body.list, institution_id=body.institution_id,
        reason=body.reason, now=now,
    )  # fmt: skip
    return CreditListEntryRead.of(entry)
