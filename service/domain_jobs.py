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
