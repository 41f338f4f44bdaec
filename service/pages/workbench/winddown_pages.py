"""A wind-down on the workbench (docs/winddown.md): opening one from the institution's file,
and its ledger — claims, money in, rounds, what is outstanding, the parents the bank could not
pay — with a round distributed from the page and every claim as CSV (the API's CSV, one
writer). Each form runs the same use case as the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.api.deps import DeliverLaterDep, NowDep, SessionDep
from service.errors import DomainError
from service.flows import (
    instructions,
    successor_requests,
    successors,
    winddown_requests,
    winddowns,
)
from service.flows.models import Claim, Enrollment, SuccessorOffer
from service.kit.clock import SHANGHAI
from service.kit.money import POSITIVE_MONEY_PATTERN
from service.kit.wire import Clean
from service.pages import i18n, labels
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import PER_PAGE, PageNo, Text, act, csv_response, paging
from service.policy import approvals
from service.registry.institutions import audit_export, in_regulator_scope
from service.registry.models import Institution, Regulator
from service.registry.regions import in_scope

router = APIRouter(prefix="/workbench", include_in_schema=False)
Field = Annotated[str, Form(max_length=40), Clean]


@router.get("/wind-downs/{wind_down_id}", response_class=HTMLResponse)
def wind_down_page(
    wind_down_id: str,
    request: Request,
    signed: SignedDep,
    session: SessionDep,
    lang: LangDep,
    now: NowDep,
    page: PageNo = 1,
) -> HTMLResponse:
    wd = winddowns.of_regulator(session, regulator=signed.regulator, wind_down_id=wind_down_id)
    o = winddowns.overview(session, wd)
    inst = in_regulator_scope(session, signed.regulator, wd.institution_id)
    total = session.scalar(select(func.count(Claim.id)).where(Claim.wind_down_id == wd.id)) or 0
    rows = session.execute(
        select(Claim, Enrollment.student_ref)
        .join(Enrollment, Enrollment.id == Claim.enrollment_id)
        .where(Claim.wind_down_id == wd.id)
        # The parents the bank could not pay first: they are the ones to reach.
        .order_by((Claim.status == "unreachable").desc(), Claim.enrollment_id)
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    return render(
        request, "winddown.html", lang, signed=signed, o=o, i=inst, claims=rows,
        paged=paging(request, f"/workbench/wind-downs/{wd.id}", page, total),
        offers=_offers(session, wd.id, now), candidates=_candidates(session, signed.regulator),
        outstanding=winddowns.outstanding,
    )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class _BySuccessor:
    """A successor's offers, counted by where each stands, and the money moved to it."""

    name: str
    counts: dict[str, int]
    moved: Decimal


@dataclass(frozen=True, kw_only=True)
class _Offers:
    by_successor: list[_BySuccessor]
    transfers: list[tuple[SuccessorOffer, str, str]]  # offer, student, successor


def _offers(session: Session, wind_down_id: str, now: datetime) -> _Offers:
    """The wind-down's successor offers: each successor's tally, and every transfer (an
    accepted offer: with the bank, done, or refused by it), newest first."""
    made = successors.listed(session, wind_down_id=wind_down_id)
    names = {
        i.id: i.name
        for i in session.scalars(
            select(Institution).where(
                Institution.id.in_(sorted({o.successor_institution_id for o, _ in made}))
            )
        )
    }
    wanted = sorted({e for _, e in made})
    students: dict[str, str] = {
        e_id: ref
        for e_id, ref in session.execute(
            select(Enrollment.id, Enrollment.student_ref).where(Enrollment.id.in_(wanted))
        )
    }
    tally: dict[str, _BySuccessor] = {}
    for o, _ in made:
        t = tally.setdefault(o.successor_institution_id, _BySuccessor(
            name=names.get(o.successor_institution_id, o.successor_institution_id),
            counts=dict.fromkeys(OFFER_COLUMNS, 0), moved=Decimal("0.00")))  # fmt: skip
        t.counts[successors.status_of(o, now)] += 1
        if o.status == "transferred" and o.amount is not None:
            tally[o.successor_institution_id] = _BySuccessor(
                name=t.name, counts=t.counts, moved=t.moved + o.amount
            )
    moved = [(o, students.get(e, e), names.get(o.successor_institution_id, ""))
             for o, e in made if o.status in ("accepted", "transferred", "failed")]  # fmt: skip
    moved.sort(key=lambda x: (x[0].decided_at or x[0].offered_at, x[0].id), reverse=True)
    return _Offers(by_successor=list(tally.values()), transfers=moved)


OFFER_COLUMNS = ("offered", "accepted", "transferred", "declined", "expired", "failed")


def _candidates(session: Session, regulator: Regulator) -> list[Institution]:
    """The institutions a successor may be: active, not closing, of the regulator's region."""
    found = session.scalars(
        select(Institution)
        .where(Institution.status == "active", Institution.closing_on.is_(None))
        .order_by(Institution.name)
    )
    return [i for i in found if in_scope(regulator.region_code, i.region_code)]


@router.post("/wind-downs/{wind_down_id}/successor-offers")
def offer_successor(
    wind_down_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    successor_institution_id: Field,
    enrollment_ids: Annotated[str, Form(max_length=200_000)] = "",
) -> RedirectResponse:
    """Offer the parents (those listed, or every claim it can take) a successor school: the
    API's use case, four eyes included."""
    named = enrollment_ids.replace(",", " ").split()

    def run() -> object:
        return successor_requests.offer_successor(
            session, regulator=signed.regulator, wind_down_id=wind_down_id,
            successor_institution_id=successor_institution_id,
            enrollment_ids=named or None, now=now,
        )  # fmt: skip

    return act(session, f"/workbench/wind-downs/{wind_down_id}#successors-h", run,
               N_("The successor school is offered to the parents."))  # fmt: skip


@router.get("/wind-downs/{wind_down_id}/claims.csv")
def claims_csv(
    wind_down_id: str, signed: SignedDep, session: SessionDep, now: NowDep, lang: LangDep
) -> StreamingResponse:
    """Every claim with every payment, in the page's language (the API's export, read by the
    same `winddowns.ledger_lines`), with the ids the bank can trace."""
    wd = winddowns.of_regulator(session, regulator=signed.regulator, wind_down_id=wind_down_id)
    lines = winddowns.ledger_lines(session, wd)
    audit_export(session, regulator=signed.regulator, export="wind_down_claims",
                 filters={"wind_down_id": wd.id}, rows=len(lines), now=now)  # fmt: skip
    _ = i18n.gettext(lang)
    return csv_response(f"wind-down-{wd.id}.csv", [_(h) for h in CSV_HEADER],
                        (_csv_line(x, _, lang) for x in lines))  # fmt: skip


CSV_HEADER = [
    N_("Student"), N_("Enrollment"), N_("Claim"), N_("Paid"), N_("Outstanding"),
    N_("Status"), N_("Round"), N_("Payment"), N_("Amount"), N_("Paid from"),
    N_("Payment status"), N_("Instruction"), N_("Bank transaction"), N_("Paid to"), N_("Paid at"),
]  # fmt: skip
SOURCES = {"escrow": N_("Escrow account"), "reserve": N_("Risk reserve")}


def _csv_line(x: winddowns.LedgerLine, _: Any, lang: str) -> list[Any]:
    c, p, i = x.claim, x.payment, x.instruction
    head = [x.student_ref, c.enrollment_id, f"{c.amount:.2f}", f"{c.paid:.2f}",
            f"{winddowns.outstanding(c):.2f}", _(labels.label("claims", c.status))]  # fmt: skip
    if p is None:
        return head + [""] * 9
    payee = "" if i is None else (i.payee.get("account_no") or
                                  " ".join(i.payee.get("original_bank_txn_ids", [])))  # fmt: skip
    paid_at = i18n.instant(p.settled_at, lang) if p.settled_at and p.status == "paid" else ""
    return [*head, x.round_seq or "", p.id, f"{p.amount:.2f}", _(SOURCES.get(p.source, p.source)),
            _(labels.label("payments", p.status)), p.instruction_id or "",
            (i.result_bank_txn_id or "") if i else "", payee, paid_at]  # fmt: skip


@router.post("/institutions/{institution_id}/wind-down")
def open_wind_down(
    institution_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    reason: Field,
    effective_at: Field,
    note: Text,
) -> RedirectResponse:
    """Open the wind-down; the effective instant is typed in Beijing time."""
    back_to = f"/workbench/institutions/{institution_id}"

    def run() -> object:
        when = _beijing(effective_at)
        done = winddown_requests.open_wind_down(
            session, regulator=signed.regulator, institution_id=institution_id,
            reason=reason, effective_at=when, note=note, now=now,
        )  # fmt: skip
        if isinstance(done, approvals.Done):
            opened.append(done.answer["wind_down_id"])
        return done

    opened: list[str] = []
    answer = act(session, back_to, run, N_("The wind-down is open."))
    if opened:
        return act(session, f"/workbench/wind-downs/{opened[0]}", lambda: None,
                   N_("The wind-down is open."))  # fmt: skip
    return answer


def _beijing(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)
    except ValueError:
        raise DomainError("validation_error", f"{text!r} is not a date and time") from None


@router.post("/wind-downs/{wind_down_id}/rounds")
def make_round(
    wind_down_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
    amount: Annotated[str, Form(max_length=20), Clean] = "",
) -> RedirectResponse:
    def run() -> object:
        return winddown_requests.make_round(
            session, regulator=signed.regulator, wind_down_id=wind_down_id,
            amount=_amount(amount), now=now,
        )  # fmt: skip

    answer = act(session, f"/workbench/wind-downs/{wind_down_id}", run,
                 N_("The round is instructed to the bank."))  # fmt: skip
    if instructions.made_any(session):
        deliver_later()  # as the API's round: its payments go to the bank after the commit
    return answer


def _amount(text: str) -> Decimal | None:
    """The API's grammar of a positive amount (at most 13 digits, two decimals): `1e309` is
    refused as the API refuses it, not handed to quantize."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(POSITIVE_MONEY_PATTERN, text):
        raise DomainError("invalid_amount", f"{text!r} is not an amount")
    return Decimal(text).quantize(Decimal("0.01"))
