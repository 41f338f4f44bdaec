"""Registers the domain's scheduled jobs. Importing this module also registers the handlers
that settle refunds, releases and suspense returns when a bank reports a result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.bank_gateway.delivery import deliver_pending
from service.flows import deposits, refunds, releases  # noqa: F401  (result handlers)
from service.jobs.runner import JobContext, register
from service.risk.facts import gather
from service.risk.sweep import sweep


def _deliver(
    sessions: sessionmaker[Session], ctx: JobContext, clock: Callable[[], datetime]
) -> dict[str, Any]:
    return deliver_pending(
        sessions, settings=ctx.settings, clock=clock, region_prefix=ctx.region_prefix
    )


def _nothing(session: Session, ctx: JobContext) -> dict[str, Any]:
    return {}


def _escalate(session: Session, ctx: JobContext) -> dict[str, Any]:
    return refunds.escalate_overdue(
        session, as_of=ctx.as_of, now=ctx.now, region_prefix=ctx.region_prefix
    )


def _release(session: Session, ctx: JobContext) -> dict[str, Any]:
    return releases.release_batch(
        session, as_of=ctx.as_of, now=ctx.now, region_prefix=ctx.region_prefix
    )


register(
    "refund_escalation", _escalate, after=_deliver, regional=True, trigger="interval", minutes=15
)
register("release_batch", _release, after=_deliver, regional=True, trigger="cron", hour=2, minute=0)
register(
    "instruction_delivery", _nothing, after=_deliver, regional=True, trigger="interval", minutes=1
)


def _risk_sweep(session: Session, ctx: JobContext) -> dict[str, Any]:
    return sweep(session, as_of=ctx.as_of, now=ctx.now, region_prefix=ctx.region_prefix)


def _statement_missing(session: Session, ctx: JobContext) -> dict[str, Any]:
    """Re-evaluate only the institutions whose escrow account has had no statement for three
    days, so a silent bank is noticed between nightly sweeps."""
    as_of = ctx.as_of
    facts = gather(session, as_of=as_of, region_prefix=ctx.region_prefix)
    silent = [
        f.institution_id
        for f in facts.values()
        if f.ever_deposited and (as_of - (f.last_statement_at or f.created_at)).days >= 3
    ]
    if not silent:
        return {"institutions_without_statement": 0}
    out = sweep(session, as_of=as_of, now=ctx.now, institution_ids=silent)
    return {"institutions_without_statement": len(silent), "alerts_opened": out["alerts_opened"]}


register("risk_sweep", _risk_sweep, regional=True, trigger="cron", hour=1, minute=0)
register("statement_missing", _statement_missing, regional=True, trigger="cron", hour=12, minute=0)
