"""A small hand-written history replayed by `tuitionguard backtest`, levels checked day by day."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from service.config import Settings
from service.kit.db import make_sessionmaker
from service.registry.models import Institution
from tools.backtest import Replay

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


def _line(at: str, kind: str, **fields: object) -> str:
    return json.dumps({"at": at, "type": kind, **fields})


def test_reserve_deposits_and_closure_notices_are_replayed(engine: Engine) -> None:
    """BACKTEST.md's `reserve_deposit` funds a reserve-mode school's reserve, and
    `closure_notice` records its closure (no new enrollment after it), on both databases."""
    course = json.loads(DATA.read_text().splitlines()[3])
    lines = [_line("2026-11-23T08:00:00+08:00", "institution", id=x, name=x,
                   region_code="220102", category="subject", supervision_mode="reserve")
             for x in ("R", "S")]  # fmt: skip
    for x in ("R", "S"):
        lines.append(json.dumps({**course, "id": f"{x}-maths", "institution": x}))
        lines.append(_line("2026-11-23T09:00:00+08:00", "enrollment", id=f"{x}-1",
                           course=f"{x}-maths", lessons=5, amount="100.00"))  # fmt: skip
        lines.append(_line("2026-11-23T09:10:00+08:00", "deposit", bank_txn_id=f"{x}-d1",
                           institution=x, enrollment=f"{x}-1", amount="100.00"))  # fmt: skip
    lines += [
        _line("2026-11-23T09:20:00+08:00", "reserve_deposit", bank_txn_id="R-r1",
              institution="R", amount="100.00"),
        _line("2026-11-24T09:00:00+08:00", "closure_notice", institution="S",
              effective="2026-12-31"),
        _line("2026-11-24T10:00:00+08:00", "enrollment", id="S-2", course="S-maths",
              lessons=5, amount="100.00"),
        _line("2026-11-24T11:00:00+08:00", "reserve_deposit", bank_txn_id="S-r1",
              institution="X", amount="1.00"),
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(environment="test", database_url="sqlite://", secret_key="k" * 32)
    replay = Replay(make_sessionmaker(engine), settings, out, err=err)
    summary = replay.run(lines)
    assert summary["skipped"] == 2, err.getvalue()
    assert "S-2" not in replay.ids["enrollment"]
    assert "institution_closing" in err.getvalue() and "unknown institution 'X'" in err.getvalue()
    rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
    last = {r["institution"]: r for r in rows if r["date"] == "2026-11-24"}
    assert "reserve_shortfall" not in {i["code"] for i in last["R"]["indicators"]}
    assert "reserve_shortfall" in {i["code"] for i in last["S"]["indicators"]}
    with make_sessionmaker(engine)() as s:
        closing = s.get(Institution, replay.ids["institution"]["S"])
        assert closing is not None and closing.closing_on == date(2026, 12, 31)
