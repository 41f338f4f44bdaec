"""`tuitionguard simulate` end to end at a small scale (the full-scale figures are in
docs/benchmarks.md): it writes a docs/backtest.md history, replays it, and reports its metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest


def test_simulate_small_region(tmp_path: Path) -> None:
    events = tmp_path / "history.jsonl"
    env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "simulate",
            "--institutions",
            "8",
            "--days",
            "110",
            "--seed",
            "3",
            "--events",
            str(events),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["failing"] == 4
    assert report["false_positive_rate"] == 0 and report["false_positives"] == []
    assert report["recall"] >= 3 / 4
    assert report["median_lead_days"] >= 7
    assert report["sudden_disappearances_caught"] == "1 of 1"
    by = report["by_archetype"]
    assert sum(a["institutions"] for a in by.values()) == 8
    assert sum(by[a]["flagged_high"] for a in ("healthy", "joins_mid_term") if a in by) == 0
    lines = events.read_text().splitlines()
    assert len(lines) == report["events"]
    assert {json.loads(x)["type"] for x in lines} >= {
        "institution", "course", "enrollment", "deposit", "consumption", "refund_request",
        "refund_answer", "bank_debit", "statement", "complaint",
    }  # fmt: skip


def test_every_length_of_history_builds(tmp_path: Path) -> None:
    """Runs shorter than a quarter of a year used to crash drawing the failure day."""
    from tools.simulate import World

    for days in (1, 2, 10, 30, 84, 85):
        world = World(8, days, seed=3)
        world.build()
        failing = [i for i in world.insts if i.fail_day is not None]
        assert failing and all(1 <= i.fail_day <= max(1, days - 1) for i in failing), days


def test_a_kept_region_ends_today_with_a_regulator_to_explore_it(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from service.kit.clock import local_date, utcnow

    url = f"sqlite:///{tmp_path}/region.db"
    env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "simulate", "--institutions", "5", "--days", "12",
         "--database", url],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "simulate: 10 of about 12 days replayed" in proc.stderr  # progress is told
    report = json.loads(proc.stdout)
    assert report["regulator_token"].startswith("tgr_")
    engine = create_engine(url)
    with engine.connect() as c:
        last = c.execute(text("select max(as_of) from risk_evaluations")).scalar()
    engine.dispose()
    assert str(local_date(utcnow()) - timedelta(days=2)) <= str(last)[:10]


@pytest.mark.parametrize(("n", "days", "seed"), [(40, 120, 7), (20, 182, 2021), (100, 300, 7)])
def test_the_history_names_an_enrollment_only_once_it_is_paid(n: int, days: int, seed: int) -> None:
    """No line of the simulator's own history is one the replay must skip: a school claiming
    every lesson ahead at 09:00 claimed an enrollment it sold at 10:16 ("unknown enrollment"),
    and a refund asked at 11:00 named one paid at 11:09 ("nothing to refund")."""
    from datetime import datetime

    from tools.simulate import World

    paid: dict[str, datetime] = {}
    late = []
    for e in World(n, days, seed).build():
        at, label = datetime.fromisoformat(e["at"]), e.get("enrollment")
        if e["type"] == "deposit" and label is not None:
            paid.setdefault(label, at)
        elif label is not None and (label not in paid or paid[label] > at):
            late.append((e["type"], label, e["at"]))
    assert late == []
