"""Business figures on /metrics, read from the database (in one of its own, so that every
figure is the test's): jobs by outcome, the bank's backlog by age, alerts by level,
reconciliation breaks, money in and out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.app import create_app
from service.config import Settings
from service.flows import statements
from service.registry.models import Regulator
from tests.api.test_flows import START, World
from tests.api.test_risk_triggers import statement

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    return fresh_engine


SCRAPER = "scrape-credential-0123456789abcdef"
MONEY_AND_CASES = ("tg_deposits", "tg_refunds", "tg_alerts", "tg_reconciliation", "tg_statements",
                   "tg_instructions", "tg_job", "tg_business")  # fmt: skip


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"business_metrics_ttl_seconds": 0, "metrics_token": SCRAPER})


def scrape(w: World, token: str | None = SCRAPER) -> Figures:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = w.client.get("/metrics", headers=headers)
    assert r.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_business_figures_need_the_scrape_credential(world: World) -> None:
    """Issue 31, finding 7: /metrics showed anyone the deposit, suspense and refund totals,
    open critical alerts and unreviewed breaks. Without a credential it shows the process's
    HTTP figures only; a credential other than METRICS_TOKEN (a regulator's token included)
    is 401; METRICS_TOKEN's holder gets the business figures."""
    e = world.enroll(lessons=2, amount="40.00")
    world.pay(e)
    open_ = scrape(world, token=None)
    assert any(name == "tg_http_requests_total" for name, _ in open_)
    assert [n for n, _ in open_ if n.startswith(MONEY_AND_CASES)] == []
    for wrong in (world.reg, SCRAPER + "x", "x"):
        r = world.client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"})
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
        assert "tg_deposits" not in r.text
    assert fig(scrape(world), "tg_deposits_received_yuan_total") == 40.0


def test_without_a_scrape_credential_configured_no_one_gets_the_business_figures(
    engine: Engine, settings: Settings
) -> None:
    unset = settings.model_copy(update={"metrics_token": ""})
    with TestClient(create_app(unset, engine=engine)) as c:
        c.get("/healthz")
        assert "tg_http_requests_total" in c.get("/metrics").text
        assert "tg_business_metrics_up" not in c.get("/metrics").text
        assert c.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"}).status_code == 401


def test_a_short_scrape_credential_is_refused_at_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Settings(**{**settings.model_dump(), "metrics_token": "short"})


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
    families = list(
        text_string_to_metric_families(
            world.client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER}"}).text
        )
    )
    exposed = {f.name for f in families} | {s.name for f in families for s in f.samples}
    for expr in exprs:
        for name in re.findall(r"\btg_\w+", expr):
            assert name in exposed or name.removesuffix("_total") in exposed, (name, expr)
        for job in re.findall(r'job="(\w+)"', expr):
            assert job in JOBS, job
