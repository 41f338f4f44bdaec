"""The literal list of named jobs: what each does, when it runs, and whether a regulator may
run it for their region."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import ledger
from service.bank_gateway.delivery import deliver_pending
from service.flows import enrollments, refunds, releases
from service.jobs.base import Job, JobContext, lagging_reads
from service.kit.clock import SHANGHAI
from service.kit.request_keys import purge_expired
from service.national import rollups
from service.policy import approvals
from service.policy.knobs import RiskConfig
from service.proofs.cosign import cosign_latest
from service.proofs.daily import day_before, publish_day
from service.risk import alerts
from service.risk.facts import SILENCE_FACTS, Needs, gather
from service.risk.indicators import statement_overdue
from service.risk.sweep import region_configs, sweep


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


def _lapse_unpaid(session: Session, ctx: JobContext) -> dict[str, Any]:
    return {"orders_lapsed": enrollments.lapse_unpaid(session, as_of=ctx.as_of,
                                                      region_prefix=ctx.region_prefix)}  # fmt: skip


def _release(session: Session, ctx: JobContext) -> dict[str, Any]:
    return releases.release_batch(
        session, as_of=ctx.as_of, now=ctx.now, region_prefix=ctx.region_prefix
    )


def _risk_sweep(session: Session, ctx: JobContext) -> dict[str, Any]:
    with lagging_reads(session, ctx) as facts_from:
        return sweep(
            session,
            as_of=ctx.as_of,
            now=ctx.now,
            region_prefix=ctx.region_prefix,
            facts_from=facts_from,
        )


def _statement_missing(session: Session, ctx: JobContext) -> dict[str, Any]:
    """Re-evaluate only the institutions whose escrow account has had no statement for their
    region's `statement_missing` threshold of working days (the indicator's own predicate: a
    bank silent over a weekend or a holiday is not silent), so a silent bank is noticed
    between nightly sweeps."""
    as_of = ctx.as_of
    cfgs = region_configs(
        session, as_of=as_of, region_prefix=ctx.region_prefix, institution_ids=None
    )
    facts = gather(
        session, as_of=as_of, needs=Needs.of(cfgs.values()), region_prefix=ctx.region_prefix,
        only=SILENCE_FACTS,
    )  # fmt: skip
    silent = [
        f.institution_id
        for f in facts.values()
        if statement_overdue(f, as_of, cfgs.get(f.region_code, RiskConfig())) is not None
    ]
    if not silent:
        return {"institutions_without_statement": 0}
    out = sweep(session, as_of=as_of, now=ctx.now, institution_ids=silent)
    # A bank silent on many accounts at once: one notice here (`systemic_events`), no case.
    return {"institutions_without_statement": len(silent), "alerts_opened": out["alerts_opened"],
            "systemic_events": out["systemic_events"]}  # fmt: skip


def _reopen_cases(session: Session, ctx: JobContext) -> dict[str, Any]:
    reopened = alerts.reopen_due(session, now=ctx.as_of, region_prefix=ctx.region_prefix)
    return {"cases_reopened": reopened}


def _hold_expiry(session: Session, ctx: JobContext) -> dict[str, Any]:
    expired = ledger.expire_due(session.connection(), now=ctx.as_of)
    return {"holds_expired": len(expired)}


def _idempotency_purge(session: Session, ctx: JobContext) -> dict[str, Any]:
    retention = timedelta(days=ctx.settings.idempotency_retention_days)
    return {"keys_purged": purge_expired(session, now=ctx.as_of, retention=retention)}


def _publish_proofs(session: Session, ctx: JobContext) -> dict[str, Any]:
    """The day that ended before `as_of`: every institution's liabilities, the ledger's anchor,
    appended to the public log and the checkpoint signed (docs/proofs.md)."""
    day = day_before(ctx.as_of)
    return publish_day(session, ctx.settings, day=day, now=ctx.now).summary()


def _cosign(
    sessions: sessionmaker[Session], ctx: JobContext, clock: Callable[[], datetime]
) -> dict[str, Any]:
    return cosign_latest(sessions, ctx.settings, now=clock())


def _approval_expiry(session: Session, ctx: JobContext) -> dict[str, Any]:
    """Four-eyes requests 72 hours old are expired (by the service clock), so the queue and
    its count show only what can still be decided."""
    return {"approvals_expired": approvals.expire_due(session, now=ctx.now)}


def _national_rollups(session: Session, ctx: JobContext) -> dict[str, Any]:
    """The province's rollups for the national view, rewritten where they changed (published
    by logical replication; docs/scaling.md). Stamped with the real clock: the national view
    says how current each province's figures are."""
    return rollups.refresh(session, now=ctx.now)


def _interval(minutes: int) -> dict[str, Any]:
    return {"trigger": "interval", "minutes": minutes}


def _every(seconds: int) -> dict[str, Any]:
    return {"trigger": "interval", "seconds": seconds}


def _daily(hour: int, minute: int = 0) -> dict[str, Any]:
    return {"trigger": "cron", "hour": hour, "minute": minute}


JOBS: dict[str, Job] = {
    j.name: j
    for j in (
        Job("refund_escalation", _escalate, _interval(15), after=_deliver, regional=True),
        Job("release_batch", _release, _daily(2), after=_deliver, regional=True),
        Job("instruction_delivery", _nothing, _interval(1), after=_deliver, regional=True),
        Job("risk_sweep", _risk_sweep, _daily(1), regional=True),
        Job("statement_missing", _statement_missing, _daily(12), regional=True),
        Job("alert_reopen", _reopen_cases, _interval(15), regional=True),
        Job("hold_expiry", _hold_expiry, _interval(5)),
        Job("unpaid_order_expiry", _lapse_unpaid, _interval(15), regional=True),
        Job("idempotency_purge", _idempotency_purge, _daily(3, 30)),
        # After the banks' statements of the day before have come (the attested balance), and
        # published by 06:00; the witnesses are asked once the append has committed. Not in a
        # replayed day: it changes nothing the engine judges, and a replay would append past
        # days to a public log, signed at the replay's clock (and it was half a replay's time).
        Job("proof_publish", _publish_proofs, _daily(5), after=_cosign, replayed=False),
        Job("approval_expiry", _approval_expiry, _interval(15)),
        # Not in a replayed day: it judges nothing and publishes the present, not a past day.
        Job("national_rollups", _national_rollups, _every(rollups.EVERY_SECONDS), replayed=False),
    )
}


def trigger_of(job: Job, tick_seconds: int | None) -> dict[str, Any]:
    """The job's schedule; with a tick setting, every job on that one short interval (demos and
    the scheduler test)."""
    return {"trigger": "interval", "seconds": tick_seconds} if tick_seconds else job.trigger


def next_run(trigger: dict[str, Any], now: datetime) -> datetime:
    """When the scheduler runs a job of this schedule next: a daily one at its hour, Beijing
    time; a periodic one within its interval (the latest it can be)."""
    if trigger["trigger"] == "cron":
        local = now.astimezone(SHANGHAI)
        at = local.replace(hour=trigger["hour"], minute=trigger.get("minute", 0), second=0,
                           microsecond=0)  # fmt: skip
        return at if at > local else at + timedelta(days=1)
    return now + timedelta(
        minutes=int(trigger.get("minutes", 0)), seconds=int(trigger.get("seconds", 0))
    )


def in_day_order() -> list[Job]:
    """The catalogue's jobs in the order a day of the scheduler first runs them after Beijing
    midnight: each periodic one within its interval, each daily one at its hour (the risk sweep
    at 01:00 before the release at 02:00, so a release the sweep's freeze would hold is held);
    jobs due at one moment in the catalogue's order. The scheduler registers its jobs in this
    order and a replayed day (`runner.run_day`: the backtest, the simulator) runs them in it:
    one order, read from the schedules, for both."""
    midnight = datetime.combine(date(2026, 1, 5), time(0), tzinfo=SHANGHAI)
    listed = list(JOBS.values())
    return sorted(listed, key=lambda j: (next_run(j.trigger, midnight) - midnight, listed.index(j)))
