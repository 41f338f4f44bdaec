"""Where a replay's time goes: each kind of event and each end-of-day job of `tools.backtest`,
timed, with the SQL statements each ran (in one process, this tree's code).

The history is the one `bench/backtest.py` replays (the baseline commit's simulator, same
arguments), so the figures add up to that benchmark's "this tree" line, give or take the
timing's own cost.

Run: .venv/bin/python bench/backtest_phases.py [--institutions 100] [--days 300] [--seed 7]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.backtest import ROOT, history, worktree

# The replay's own steps of a day's end; the catalogue's jobs are timed one by one beside them.
STEPS = ("_settle_due", "_statements", "_write_levels")


class Clock:
    """Seconds, calls and statements per phase; the phase is whatever was entered last."""

    def __init__(self) -> None:
        self.phase = "other"
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()

    def count(self, *_: Any) -> None:
        self.statements[self.phase] += 1

    def wrap(self, fn: Callable[..., Any], name: Callable[[tuple[Any, ...]], str]) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer, self.phase = self.phase, name(args)
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[self.phase] += time.perf_counter() - started
                self.calls[self.phase] += 1
                self.phase = outer

        return timed


def replay(events: Path) -> Clock:
    os.environ.setdefault("ENVIRONMENT", "development")
    os.environ.pop("DATABASE_URL", None)
    from dataclasses import replace

    from service.jobs import catalog
    from tools import backtest, morning
    from tools.cli import _prepared

    clock = Clock()
    event.listen(Engine, "before_cursor_execute", clock.count)
    r = backtest.Replay
    r.apply = clock.wrap(r.apply, lambda a: f"event: {a[2]['type']}")
    r._apply_lessons = clock.wrap(r._apply_lessons, lambda a: "lessons (batched)")
    m = morning.Morning
    m.write = clock.wrap(m.write, lambda a: "enrollments + deposits (batched)")
    for step in STEPS:
        raw, name = r.__dict__[step], f"end of day: {step[1:]}"
        setattr(r, step, clock.wrap(raw, lambda a, n=name: n))
    for key, job in list(catalog.JOBS.items()):
        timed = clock.wrap(job.fn, lambda a, n=f"end of day: job {key}": n)
        catalog.JOBS[key] = replace(job, fn=timed)
    with tempfile.TemporaryDirectory() as tmp:
        sessions, settings = _prepared(f"sqlite:///{tmp}/phases.db", scratch=True)
        lines = events.read_text(encoding="utf-8").splitlines()
        started = time.perf_counter()
        backtest.Replay(sessions, settings, io.StringIO(), err=io.StringIO()).run(lines)
        clock.seconds["total"] = time.perf_counter() - started
    return clock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--institutions", type=int, default=100)
    parser.add_argument("--days", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", default="ba0e8c3", help="whose simulator writes the history")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        tree = worktree(args.baseline, Path(tmp))
        try:
            events = Path(tmp) / "history.jsonl"
            n = history(tree, "service.risk.simulate:World", events, args.institutions,
                        args.days, args.seed)  # fmt: skip
            print(f"history: {args.institutions} institutions x {args.days} days, {n:,} events")
            clock = replay(events)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)  # fmt: skip
    total = clock.seconds.pop("total")
    print(f"replay: {total:.1f} s in all")
    print(f"  {'phase':<36} {'seconds':>8} {'share':>6} {'calls':>7} {'statements':>11}")
    for phase, seconds in clock.seconds.most_common():
        print(f"  {phase:<36} {seconds:8.1f} {seconds / total:6.0%} {clock.calls[phase]:7,} "
              f"{clock.statements[phase]:11,}")  # fmt: skip


if __name__ == "__main__":
    main()
