"""What a parent is told of the institution that holds their money: its public status (frozen,
black-listed, closed, winding down), a warning when its risk level is one the region discloses
to parents (a regional rule: by default `high` and above, without the score), and how much of
what the supervised account should hold the bank last reported holding.

A parent is never promised that money is there: the coverage is the bank's word on a day, and
a refund is something the parent may ask for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.flows.models import Complaint
from service.flows.positions import coverage, valuation
from service.policy import packs
from service.policy import rules as r
from service.registry.models import Institution
from service.risk.models import Alert, InstitutionRisk
from service.risk.scoring import LEVELS


@dataclass(frozen=True, kw_only=True)
class Standing:
    status: str  # active | frozen | blacklisted | closed
    closing_on: date | None  # a planned closure: it is winding down, refunding everything
    warning: str | None  # the risk level, when the region tells parents of it
    score: int | None  # the score too, when the region says so
    owed: Decimal  # to its families, for lessons not given (the ledger)
    should_hold: Decimal  # what the supervised account should hold (the ledger's escrow)
    bank_balance: Decimal | None  # what the bank's latest statement says it holds
    bank_day: date | None  # the statement's day

    @property
    def coverage(self) -> Decimal | None:
        """The same ratio the regulator sees (`positions.coverage`)."""
        return coverage(self.bank_balance, self.should_hold)

    @property
    def short(self) -> bool:
        """The bank last reported less than the account should hold (or reported nothing)."""
        return self.bank_balance is None or self.bank_balance < self.should_hold


def warning_shown(level: str | None, shown_from: str) -> bool:
    """Whether a region whose rule is `shown_from` tells parents of `level`."""
    if level not in LEVELS or shown_from not in LEVELS:  # not evaluated; or "never"
        return False
    return LEVELS.index(level) >= LEVELS.index(shown_from)


def standing(session: Session, institution: Institution, *, on: date) -> Standing:
    """The institution's standing as its parents may see it on `on` (a Beijing day)."""
    risk = session.get(InstitutionRisk, institution.id)
    pack = packs.resolve(session, institution.region_code, r.ALL, on=on).values
    shown_from = pack.parent_warning_from.level
    with_score = pack.parent_warning_score.enabled
    warned = risk is not None and warning_shown(risk.level, shown_from)
    v = valuation(session.connection(), institution.id)
    return Standing(
        status=institution.status,
        closing_on=institution.closing_on,
        warning=risk.level if warned and risk is not None else None,
        score=risk.score if warned and with_score and risk is not None else None,
        owed=v.owed,
        should_hold=v.escrow,
        bank_balance=v.bank_balance,
        bank_day=v.bank_day,
    )


@dataclass(frozen=True, kw_only=True)
class Filed:
    complaint: Complaint
    status: str  # received | followed_up | concluded
    since: datetime | None  # when the case that follows it up was opened, or closed


def filed(session: Session, enrollment: str, institution_id: str) -> list[Filed]:
    """The complaints a parent filed for an enrollment, newest first, each with where it
    stands: a case of the regulator's on the institution open now (followed up), or one
    closed since it was filed (concluded); else received (it counts in the institution's
    warning signs). A complaint has no workflow of its own: the case is the regulator's."""
    rows = session.scalars(
        select(Complaint)
        .where(Complaint.enrollment_id == enrollment)
        .order_by(Complaint.created_at.desc(), Complaint.id.desc())
    ).all()
    cases = session.scalars(
        select(Alert).where(Alert.institution_id == institution_id).order_by(Alert.opened_at)
    ).all()
    open_case = next((a for a in cases if a.status != "resolved"), None)
    return [_stands(c, open_case, cases) for c in rows]


def _stands(c: Complaint, open_case: Alert | None, cases: Sequence[Alert]) -> Filed:
    if open_case is not None:
        return Filed(complaint=c, status="followed_up", since=open_case.opened_at)
    closed = [a.resolved_at for a in cases if a.resolved_at and a.resolved_at >= c.created_at]
    if closed:
        return Filed(complaint=c, status="concluded", since=max(closed))
    return Filed(complaint=c, status="received", since=None)
