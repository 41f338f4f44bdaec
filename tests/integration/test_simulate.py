"""`tuitionguard simulate` end to end at a small scale (the full-scale figures are in
docs/benchmarks.md): it writes a BACKTEST.md history, replays it, and reports its metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


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
    assert report["failing"] == 3 and report["honest_closures"] == 1
    assert report["honest_closures_flagged_high"] == 0
    assert report["false_positive_rate"] == 0
    assert report["recall"] >= 2 / 3
    assert report["median_lead_days"] >= 7
    lines = events.read_text().splitlines()
    assert len(lines) == report["events"]
    assert {json.loads(x)["type"] for x in lines} >= {
        "institution",
        "course",
        "enrollment",
        "deposit",
        "consumption",
        "refund_request",
        "bank_debit",
    }
