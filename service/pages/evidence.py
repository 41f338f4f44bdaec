"""What the ids on the pages are: the evidence behind an indicator (a refund, a statement
break, a complaint…) named by its kind, day and amount, and the actors of the audit log named
as people call them. One query per kind of id, whatever the number of ids."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.flows.models import (
    Complaint,
    Consumption,
    Deposit,
    Enrollment,
    Refund,
    Statement,
    StatementBreak,
    WindDown,
)
from service.registry.models import Bank, Institution, InstitutionChange, Regulator


@dataclass(frozen=True)
class Evidence:
    kind: str  # the id's prefix: ref, brk, stm, dep, cmp, con, enr, chg, wdn
    at: datetime | date | None
    amount: Decimal | None
    anchored: bool  # the institution's page shows it under this id
    page: str | None = None  # its own page, where it has one (a wind-down's)


def _rows(session: Session, model: Any, ids: list[str]) -> list[Any]:
    return list(session.scalars(select(model).where(model.id.in_(ids)))) if ids else []


def _statement_day(s: Statement) -> date:
    return date.fromisoformat(s.statement_date)


def _one(kind: str, row: Any) -> Evidence:
    """The day and amount people would name the item by, and whether its page shows it."""
    if kind == "ref":
        return Evidence(kind, row.requested_at, row.amount, True)
    if kind == "brk":
        return Evidence(kind, row.at, row.actual if row.actual is not None else row.expected, True)
    if kind == "stm":
        return Evidence(kind, _statement_day(row), row.closing_balance, True)
    if kind == "dep":
        return Evidence(kind, row.paid_at, row.amount, row.status == "suspense")
    if kind == "cmp":
        return Evidence(kind, row.created_at, None, True)
    if kind == "con":
        shown = row.status == "disputed" or bool(row.off_timetable)
        return Evidence(kind, row.occurred_at, row.amount, shown)
    if kind == "enr":
        return Evidence(kind, row.paid_at or row.enrolled_at, row.amount_paid, False)
    if kind == "wdn":
        return Evidence(kind, row.effective_at, None, False, f"/workbench/wind-downs/{row.id}")
    return Evidence(kind, row.at, None, kind == "chg")


MODELS: dict[str, Any] = {
    "ref": Refund,
    "brk": StatementBreak,
    "stm": Statement,
    "dep": Deposit,
    "cmp": Complaint,
    "con": Consumption,
    "enr": Enrollment,
    "chg": InstitutionChange,
    "wdn": WindDown,
}


def described(session: Session, ids: Iterable[str]) -> dict[str, Evidence]:
    """Each id found (an id of another kind, or of nothing, is left out: shown as it is)."""
    by_kind: dict[str, list[str]] = {}
    for item in set(ids):
        kind = item.split("_", 1)[0]
        if kind in MODELS:
            by_kind.setdefault(kind, []).append(item)
    return {
        row.id: _one(kind, row)
        for kind, wanted in by_kind.items()
        for row in _rows(session, MODELS[kind], wanted)
    }


def of_indicators(indicators: Iterable[Any]) -> list[str]:
    return [str(e) for ind in indicators for e in (ind.get("evidence") or [])]


def actor_names(session: Session, actors: Iterable[str]) -> dict[str, str]:
    """ "regulator:reg_…" → the regulator's name (and the same for institutions and banks);
    an actor of another kind (the scheduler, a job) is left as it is."""
    wanted: dict[str, list[str]] = {}
    for actor in set(actors):
        kind, _sep, ident = actor.partition(":")
        wanted.setdefault(kind, []).append(ident)
    names: dict[str, str] = {}
    for kind, model in (("regulator", Regulator), ("institution", Institution), ("bank", Bank)):
        for row in _rows(session, model, wanted.get(kind, [])):
            names[f"{kind}:{row.id}"] = row.name
    return names
