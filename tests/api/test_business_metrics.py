"""Business figures on /metrics, read from the database (in one of its own, so that every
figure is the test's): jobs by outcome, the bank's backlog by age, alerts by level,
reconciliation breaks, money in and out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.flows import statements
from service.registry.models import Regulator
from tests.api.test_flows import START, World
from tests.api.test_risk_triggers import statement

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    return fresh_engine


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"business_metrics_ttl_seconds": 0})


def scrape(w: World) -> Figures:
    r = w.client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def fig(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, frozenset(labels.items())), 0.0)


def test_money_in_and_out_and_the_backlog(world: World) -> None:
    before = scrape(world)
    assert fig(before, "tg_business_metrics_up") == 1
    assert fig(before, "tg_deposits_received_total") == 0
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    refund = world.client.post(
        "/api/v1/parent/refunds", headers=world.parent(e), json={"reason": "moved away"}
    )
    assert refund.status_code == 201, refund.text
    world.job("refund_escalation", START + timedelta(days=7))
    world.clock.now = START + timedelta(days=7, hours=2)
    now = scrape(world)
    assert fig(now, "tg_deposits_received_total") == 1
    assert fig(now, "tg_deposits_received_yuan_total") == 40.0
    assert fig(now, "tg_deposits", status="posted") == 1
    assert fig(now, "tg_refunds_received_total") == 1
    assert fig(now, "tg_refunds", status="instructed") == 1
    assert fig(now, "tg_refunds_yuan", status="instructed") == 40.0
    assert fig(now, "tg_job_runs_total", job="refund_escalation", outcome="ok") == 1
    assert fig(now, "tg_job_last_finished_timestamp_seconds", job="refund_escalation",
               outcome="ok") > 0  # fmt: skip
    # The refund's instruction has waited two hours: it is in the middle bucket.
    assert fig(now, "tg_instructions_pending", purpose="refund", age="1h_to_24h") == 1
    oldest = fig(now, "tg_instruction_oldest_pending_seconds", purpose="refund")
    assert 2 * 3600 <= oldest < 3 * 3600
    ins = next(i for i in world.pending() if i["kind"] == "refund")
    world.result(ins["id"], "rejected", "FAIL-1")
    after = scrape(world)
    assert fig(after, "tg_instructions_pending", purpose="refund", age="1h_to_24h") == 0
    assert fig(after, "tg_instructions_settled_total", purpose="refund", status="rejected") == 1
    assert fig(after, "tg_refunds", status="failed") == 1
    assert fig(after, "tg_refunds_received_total") == 1  # moved, not counted twice
    assert fig(after, "tg_alerts_unresolved", level="critical", status="open") == 1


def test_reconciliation_breaks_until_reviewed(world: World, engine: Engine) -> None:
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    world.clock.now = START + timedelta(hours=1)
    out = statement(world, "0.00", (f"T{world.inst_id[-8:]}1", "credit", "40.00"),
                    ("GONE", "debit", "40.00"))  # fmt: skip
    figures = scrape(world)
    assert fig(figures, "tg_statements_total", status="breaks") == 1
    assert fig(figures, "tg_reconciliation_breaks_unreviewed", kind="missing_in_ledger") == 1
    assert fig(figures, "tg_reconciliation_breaks_unreviewed", kind="balance_differs") == 1
    with Session(engine) as session, session.begin():
        regulator = session.scalars(select(Regulator)).one()
        statements.review(
            session, regulator=regulator, statement_id=out["statement_id"], now=world.clock.now
        )
    assert fig(scrape(world), "tg_reconciliation_breaks_unreviewed", kind="missing_in_ledger") == 0


def test_a_database_that_does_not_answer_is_a_figure_not_an_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.api import business_metrics

    def down(*args: object) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(business_metrics, "_read_all", down)
    figures = scrape(world)
    assert fig(figures, "tg_business_metrics_up") == 0
    assert any(name == "tg_http_requests_total" for name, _ in figures)


def test_the_sample_dashboard_reads_only_figures_the_service_exposes(world: World) -> None:
    """docs/grafana/tuitionguard.json: every series and job it queries exists."""
    import json
    import re
    from pathlib import Path

    from service.jobs.catalog import JOBS

    board = json.loads(Path("docs/grafana/tuitionguard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    world.enroll()  # an HTTP request, so the HTTP families have samples
    families = list(text_string_to_metric_families(world.client.get("/metrics").text))
    exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
    for expr in exprs:
        for name in re.findall(r"\btg_\w+", expr):
            assert name in exposed or name.removesuffix("_total") in exposed, (name, expr)
        for job in re.findall(r'job="(\w+)"', expr):
            assert job in JOBS, job
