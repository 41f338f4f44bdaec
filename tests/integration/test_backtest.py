"""A small hand-written history replayed by `tuitionguard backtest`, levels checked day by day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "history_small.jsonl"


def test_backtest_levels_day_by_day(tmp_path: Path) -> None:
    out = tmp_path / "levels.jsonl"
    env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "backtest", str(DATA), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # The two bad lines are reported with their line numbers and skipped.
    assert "line 16: nonsense skipped" in proc.stderr
    assert "line 17: consumption skipped" in proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    summary = lines[-1]["summary"]
    assert summary == {"days": 8, "institutions": 3, "events": 18, "skipped": 2}
    levels = {(r["date"], r["institution"]): r for r in lines[:-1]}
    days = [f"2026-11-{d}" for d in range(23, 31)]
    assert [levels[(d, "A")]["level"] for d in days] == ["low"] * 8
    assert [levels[(d, "B")]["level"] for d in days] == ["low"] * 6 + ["medium", "critical"]
    assert [levels[(d, "C")]["level"] for d in days] == ["low", "low"] + ["critical"] * 6
    b_last = {i["code"] for i in levels[("2026-11-30", "B")]["indicators"]}
    assert {"refund_failed", "refund_overdue"} <= b_last
    c_codes = {i["code"] for i in levels[("2026-11-25", "C")]["indicators"]}
    assert c_codes == {"escrow_shortfall"}
    sample = levels[("2026-11-29", "B")]["indicators"][0]
    assert set(sample) == {"code", "value", "threshold", "contribution"}
