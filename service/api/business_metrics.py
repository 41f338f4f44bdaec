"""What an operator puts on a board beside the HTTP figures: jobs, the bank's backlog, alerts,
reconciliation, money in and out. Read from the database when scraped, not counted in one
process: the API runs as several workers and the scheduler as another process, and the
database is what they share. A scrape reads aggregates over indexed columns, cached for a few
seconds so that several Prometheus servers (or a dashboard's refresh) cost one read.

Amounts are exposed in yuan as Prometheus floats: fine for a chart, never for moving money."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from service.flows import statements as statements_flow
from service.flows.models import Deposit, Instruction, Refund, Statement, StatementBreak
from service.jobs.models import JobRun
from service.risk.models import Alert

log = logging.getLogger(__name__)

# Pending instructions by how long the bank has had them: an hour is normal, a day is not.
AGES = (("under_1h", timedelta(hours=1)), ("1h_to_24h", timedelta(days=1)))
OVER = "over_24h"


class BusinessCollector(Collector):
    def __init__(
        self, engine: Engine, clock: Callable[[], datetime], ttl_seconds: float = 15.0
    ) -> None:
        self.engine, self.clock, self.ttl = engine, clock, ttl_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.ttl:
                self._cached = (time.monotonic(), self._read())
            return iter(self._cached[1])

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily("tg_business_metrics_up", "1 if the database answered the scrape")
        try:
            with Session(self.engine) as session:
                out = _read_all(session, self.clock())
        except Exception:  # a scrape must answer even when the database does not
            log.exception("business metrics could not be read")
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *out]


def _read_all(session: Session, now: datetime) -> list[Metric]:
    return [
        *_jobs(session),
        *_instructions(session, now),
        _alerts(session),
        *_reconciliation(session),
        *_by_status(session, Deposit, "deposits", "Deposits"),
        *_by_status(session, Refund, "refunds", "Refunds requested"),
    ]


def _yuan(value: Decimal | None) -> float:
    return float(value or 0)


def _jobs(session: Session) -> list[Metric]:
    runs = CounterMetricFamily(
        "tg_job_runs", "Finished job runs, by job and outcome", labels=["job", "outcome"]
    )
    running = GaugeMetricFamily("tg_jobs_running", "Job runs started and not finished",
                                labels=["job"])  # fmt: skip
    for name, outcome, n in session.execute(
        select(JobRun.name, JobRun.outcome, func.count()).group_by(JobRun.name, JobRun.outcome)
    ):
        if outcome == "running":
            running.add_metric([name], n)
        else:
            runs.add_metric([name, outcome], n)
    last = GaugeMetricFamily(
        "tg_job_last_duration_seconds",
        "How long each job's latest finished run took, by outcome",
        labels=["job", "outcome"],
    )
    when = GaugeMetricFamily(
        "tg_job_last_finished_timestamp_seconds",
        "When each job's latest run of each outcome finished (alert on an old `ok`)",
        labels=["job", "outcome"],
    )
    latest = (
        select(JobRun.name, JobRun.outcome, func.max(JobRun.started_at).label("at"))
        .where(JobRun.finished_at.is_not(None))
        .group_by(JobRun.name, JobRun.outcome)
        .subquery()
    )
    rows = session.execute(
        select(JobRun.name, JobRun.outcome, JobRun.started_at, JobRun.finished_at).join(
            latest,
            (JobRun.name == latest.c.name)
            & (JobRun.outcome == latest.c.outcome)
            & (JobRun.started_at == latest.c.at),
        )
    )
    for name, outcome, started, finished in rows:
        last.add_metric([name, outcome], (finished - started).total_seconds())
        when.add_metric([name, outcome], finished.timestamp())
    return [runs, running, last, when]


def _instructions(session: Session, now: datetime) -> list[Metric]:
    age = case(
        *((Instruction.created_at > now - span, label) for label, span in AGES), else_=OVER
    ).label("age")
    pending = GaugeMetricFamily(
        "tg_instructions_pending",
        "Instructions the bank has not answered, by purpose and age",
        labels=["purpose", "age"],
    )
    for purpose, bucket, n in session.execute(
        select(Instruction.purpose, age, func.count())
        .where(Instruction.status == "pending")
        .group_by(Instruction.purpose, age)
    ):
        pending.add_metric([purpose, bucket], n)
    oldest = GaugeMetricFamily(
        "tg_instruction_oldest_pending_seconds",
        "Age of the oldest unanswered instruction, by purpose",
        labels=["purpose"],
    )
    for purpose, at in session.execute(
        select(Instruction.purpose, func.min(Instruction.created_at))
        .where(Instruction.status == "pending")
        .group_by(Instruction.purpose)
    ):
        oldest.add_metric([purpose], (now - _aware(at, now)).total_seconds())
    total = CounterMetricFamily(
        "tg_instructions_settled", "Instructions the bank answered, by purpose and result",
        labels=["purpose", "status"],
    )  # fmt: skip
    for purpose, status, n in session.execute(
        select(Instruction.purpose, Instruction.status, func.count())
        .where(Instruction.status != "pending")
        .group_by(Instruction.purpose, Instruction.status)
    ):
        total.add_metric([purpose, status], n)
    return [pending, oldest, total]


def _aware(at: datetime | str, now: datetime) -> datetime:
    """func.min over a UTC column comes back as the stored text on SQLite."""
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


def _alerts(session: Session) -> Metric:
    found = GaugeMetricFamily(
        "tg_alerts_unresolved",
        "Alerts not yet resolved, by level and status (open or acknowledged)",
        labels=["level", "status"],
    )
    for level, status, n in session.execute(
        select(Alert.level, Alert.status, func.count())
        .where(Alert.status != "resolved")
        .group_by(Alert.level, Alert.status)
    ):
        found.add_metric([level, status], n)
    return found


def _reconciliation(session: Session) -> list[Metric]:
    statements = CounterMetricFamily(
        "tg_statements", "Bank statements reconciled, by result", labels=["status"]
    )
    for status, n in session.execute(
        select(Statement.status, func.count()).group_by(Statement.status)
    ):
        statements.add_metric([status], n)
    breaks = GaugeMetricFamily(
        "tg_reconciliation_breaks_unreviewed",
        "Breaks on statements no regulator has reviewed yet, by kind",
        labels=["kind"],
    )
    for kind, n in session.execute(
        select(StatementBreak.kind, func.count())
        .join(Statement, Statement.id == StatementBreak.statement_id)
        .where(statements_flow.needs_review())
        .group_by(StatementBreak.kind)
    ):
        breaks.add_metric([kind], n)
    return [statements, breaks]


def _by_status(
    session: Session, model: type[Deposit] | type[Refund], name: str, what: str
) -> list[Metric]:
    """Counters of everything ever received (monotonic: rows are never deleted), and gauges of
    where they stand now (a refund leaves `requested` for `paid`)."""
    total = CounterMetricFamily(f"tg_{name}_received", f"{what} received")
    total_yuan = CounterMetricFamily(f"tg_{name}_received_yuan", f"Yuan of {what.lower()} received")
    now = GaugeMetricFamily(f"tg_{name}", f"{what} by status now", labels=["status"])
    now_yuan = GaugeMetricFamily(
        f"tg_{name}_yuan", f"Yuan of {what.lower()} by status now", labels=["status"]
    )
    n_all, yuan_all = 0, Decimal(0)
    for status, n, amount in session.execute(
        select(model.status, func.count(), func.sum(model.amount)).group_by(model.status)
    ):
        now.add_metric([status], n)
        now_yuan.add_metric([status], _yuan(amount))
        n_all, yuan_all = n_all + n, yuan_all + (amount or 0)
    total.add_metric([], n_all)
    total_yuan.add_metric([], _yuan(yuan_all))
    return [total, total_yuan, now, now_yuan]
