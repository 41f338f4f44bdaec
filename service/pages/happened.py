"""The audit log in words: each event as who did what to which object (named, with a link to
where it is shown), why, and the state before and after in the page's language; the same
lines for the page and its CSV. Nothing of the stored detail is shown as code or JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.pages import evidence, i18n, labels
from service.pages.labels import N_
from service.registry.models import AuditEvent, Institution, Officer

Gettext = Callable[[str], str]

# Decisions recorded as "after" by the regulator's queues, as the state they lead to.
_DECISIONS = {"approve": "accepted", "reject": "denied", "uphold": "upheld", "reverse": "reversed"}
DEPOSITS = {
    "suspense": N_("In suspense"),
    "matched": N_("Matched to its enrollment"),
    "returning": N_("Being returned to the payer"),
}
# An institution on a regulator's list, or not (service.policy.credit_lists).
LISTED = {"listed": N_("On the list"), "not listed": N_("Not on the list")}
# Actors that are not a person or an organisation of the registry.
ACTORS = {
    "risk_sweep": N_("The risk sweep"),
    "backtest": N_("The imported history"),
    "scheduler": N_("The scheduler"),
    "service:reference_data": N_("The published tables shipped with the service"),
    "service:backtest": N_("The imported history"),
    "service:demo": N_("The demo's setup"),
    "job:approval_expiry": N_("The expiry of requests awaiting approval"),
}


@dataclass(frozen=True)
class Line:
    at: str
    who: str
    what: str
    on: str
    href: str | None
    why: str
    before: str
    after: str


@dataclass(frozen=True)
class Names:
    """What the ids of a page of events are called."""

    actors: dict[str, str]
    institutions: dict[str, str]
    evidence: dict[str, evidence.Evidence]


def names(session: Session, events: list[AuditEvent]) -> Names:
    insts = {e.institution_id for e in events if e.institution_id}
    insts |= {e.subject for e in events if e.subject.startswith("inst_")}
    found = session.execute(
        select(Institution.id, Institution.name).where(Institution.id.in_(insts))
    )
    return Names(
        actor_names(session, events),
        {str(i): str(n) for i, n in found},
        evidence.described(session, [e.subject for e in events]),
    )


def actor_names(session: Session, events: Iterable[AuditEvent]) -> dict[str, str]:
    """The names of the events' actors (`regulator:…` and the like) and of the officers who
    acted or were acted on (`officer:<id>`): what `person` reads."""
    events = list(events)
    actors = evidence.actor_names(session, [e.actor for e in events])
    people = {e.officer_id for e in events if e.officer_id}
    people |= {e.subject for e in events if e.subject.startswith("off_")}
    actors.update(officer_names(session, people))
    return actors


def officer_names(session: Session, officer_ids: Iterable[str]) -> dict[str, str]:
    """`officer:<id>` → the officer's name (a disabled officer's too: they keep their name)."""
    wanted = {i for i in officer_ids if i}
    if not wanted:
        return {}
    found = session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(wanted)))
    return {f"officer:{i}": str(n) for i, n in found}


def lines(events: Iterable[AuditEvent], known: Names, lang: str) -> list[Line]:
    _ = i18n.gettext(lang)
    return [_line(e, known, _, lang) for e in events]


def person(e: AuditEvent, named: dict[str, str], _: Gettext) -> str:
    """The office, and the officer of it who acted where one signed in (`named`: as
    `actor_names` gives)."""
    office = who(e.actor, named, _)
    officer = named.get(f"officer:{e.officer_id}") if e.officer_id else None
    return f"{office} · {officer}" if officer else office


def who(actor: str, named: dict[str, str], _: Gettext) -> str:
    if actor in named:
        return named[actor]
    if actor in ACTORS:
        return _(ACTORS[actor])
    if actor.startswith("address:"):  # a failed sign-in: nobody known, only where from
        return _("Someone at %(address)s") % {"address": actor.partition(":")[2]}
    return actor  # none of ours: shown as recorded


def action(code: str, _: Gettext) -> str:
    text, key = labels.action(code)
    if key is None:
        return _(text)  # an action of no label is shown as recorded
    kind = code.partition(":")[0]
    table = {"job": "jobs", "setting": "settings", "registry": "fields"}.get(kind)
    return f"{_(text)}: {_(labels.label(table, key)) if table else key}"


def _line(e: AuditEvent, known: Names, _: Gettext, lang: str) -> Line:
    detail = e.detail if isinstance(e.detail, dict) else {}
    on, href = _object(e, known, _, lang)
    why = detail.get("reason") or detail.get("note") or ""
    return Line(
        at=i18n.instant(e.at, lang),
        who=person(e, known.actors, _),
        what=action(e.action, _),
        on=on,
        href=href,
        why=str(why) if why else "—",
        before=state(e.action, detail.get("before"), _, lang) if "before" in detail else "—",
        after=state(e.action, detail.get("after"), _, lang) if "after" in detail else "—",
    )


def _object(e: AuditEvent, known: Names, _: Gettext, lang: str) -> tuple[str, str | None]:
    """The object's name and the page that shows it."""
    subject, inst = e.subject, e.institution_id
    inst_name = known.institutions.get(inst or "", "")
    inst_page = f"/workbench/institutions/{inst}" if inst else None
    kind = subject.split("_", 1)[0]
    if e.action.startswith("export:"):  # a file taken out: how many rows, from which page
        rows = (e.detail or {}).get("rows", 0) if isinstance(e.detail, dict) else 0
        page = "/workbench/" + e.action.partition(":")[2]
        return _("A file of %(n)s rows") % {"n": rows}, page
    if subject == inst or kind == "inst":
        return known.institutions.get(
            subject, _("An institution")
        ), f"/workbench/institutions/{subject}"
    if kind == "alr":
        return f"{_('Case')} · {inst_name}", f"/workbench/alerts/{subject}"
    ev = known.evidence.get(subject)
    if ev is not None:
        when = i18n.day(ev.at, lang) if ev.at else ""
        amount = i18n.money(ev.amount) if ev.amount is not None else ""
        text = " ".join(
            p for p in (inst_name, _(labels.label("evidence", ev.kind)), when, amount) if p
        )
        anchor = f"#{subject}" if ev.anchored else ""
        return text, (inst_page + anchor) if inst_page else None
    if subject.isdigit() and len(subject) == 6:
        page = (
            "/workbench/prices" if e.action.startswith(("price", "school")) else "/workbench/rules"
        )
        return labels.place(subject), page
    if kind == "reg":
        return known.actors.get(f"regulator:{subject}", _("A regulator")), None
    if kind == "off":
        return known.actors.get(f"officer:{subject}", _("An officer")), None
    if kind == "pg":
        return _("A price guide"), "/workbench/prices"
    if kind == "apr":  # a four-eyes request: what it was for is in the action and the detail
        return " · ".join(p for p in (_("A request for approval"), inst_name) if p), (
            "/workbench/approvals"
        )
    if subject == "*":
        return _("The whole region"), None
    return (inst_name or subject), inst_page


def state(code: str, value: Any, _: Gettext, lang: str) -> str:
    """A state before or after an action, in words."""
    if value is None or value == "":
        return "—"
    kind, _sep, key = code.partition(":")
    if kind == "setting":
        return labels.setting_value(key, value, _)
    if isinstance(value, (dict, list)):
        return "—"
    text = str(value)
    table = {
        "status": "statuses",
        "alert": "cases",
        "consumption": "lessons",
        "refund": "refunds",
        "statement": "statements",
    }.get(kind)
    if table is not None:
        return _(labels.label(table, _DECISIONS.get(text, text)))
    if kind == "deposit":
        return _(DEPOSITS.get(text, text))
    if kind == "credit_list":
        return _(LISTED.get(text, text))
    if kind == "registry" and key == "status":
        return _(labels.label("statuses", text))
    if kind == "closure" or (kind == "registry" and key == "closing_on"):
        try:
            return i18n.day(date.fromisoformat(text), lang)
        except ValueError:
            return text
    return text
