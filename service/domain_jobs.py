"""Registers the domain's scheduled jobs. Importing this module also registers the handlers
that settle refunds, releases and suspense returns when a bank reports a result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.flows import deposits, refunds, releases  # noqa: F401  (result handlers)
from service.flows.delivery import deliver_pending
from service.jobs import register
from service.risk.facts import gather
from service.risk.sweep import sweep


def _deliver(
    sessions: sessionmaker[Session], settings: Settings, clock: Callable[[], datetime]
) -> dict[str, Any]:
    return deliver_pending(sessions, settings=settings, clock=clock)


def _nothing(session: Session, as_of: datetime, settings: Settings) -> dict[str, Any]:
    return {}


register(
    "refund_escalation",
    lambda s, as_of, _: refunds.escalate_overdue(s, as_of=as_of),
    after=_deliver,
    trigger="interval",
    minutes=15,
)
register(
    "release_batch",
    lambda s, as_of, _: releases.release_batch(s, as_of=as_of),
    after=_deliver,
    trigger="cron",
    hour=2,
    minute=0,
)
register("instruction_delivery", _nothing, after=_deliver, trigger="interval", minutes=1)


def _risk_sweep(session: Session, as_of: datetime, settings: Settings) -> dict[str, Any]:
    return sweep(session, as_of=as_of, now=as_of)


def _statement_missing(session: Session, as_of: datetime, settings: Settings) -> dict[str, Any]:
    """Re-evaluate only the institutions whose escrow account has had no statement for three
    days, so a silent bank is noticed between nightly sweeps."""
    facts = gather(session, as_of=as_of)
    silent = [
        f.institution_id
        for f in facts.values()
        if f.ever_deposited and (as_of - (f.last_statement_at or f.created_at)).days >= 3
    ]
    if not silent:
        return {"institutions_without_statement": 0}
    out = sweep(session, as_of=as_of, now=as_of, institution_ids=silent)
    return {"institutions_without_statement": len(silent), "alerts_opened": out["alerts_opened"]}


register("risk_sweep", _risk_sweep, trigger="cron", hour=1, minute=0)
register("statement_missing", _statement_missing, trigger="cron", hour=12, minute=0)
