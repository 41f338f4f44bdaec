"""Whether this tree's risk sweep gathers the same facts and reaches the same verdicts, and
writes the same rows, as a baseline commit's, on one generated world (a speed change must
change nothing the sweep says).

    .venv/bin/python bench/sweep_same.py --baseline main [--database sqlite|postgresql]
        [--institutions 24 --days 120 --seed 7 --family tune --every 4]
    .venv/bin/python bench/sweep_same.py --baseline main --url URL --first 2026-11-07
        --days 30 --every 10   (a database already built, e.g. bench/sweep.py's region)

It replays `tools.simulate.World`'s history (every archetype: failing schools, look-alikes,
chains, a district's suspension) into a scratch database with the domain code, checks the
baseline out as a temporary `git worktree`, and sweeps the world at the end of every
`--every`-th day with each tree's code, each in a process of its own, rolled back after each
sweep: per institution, every field of its facts (`dataclasses.asdict`, lists in the order
read), its level, score and indicators' records; the sweep's answer; and the rows it wrote
(evaluations, alerts, current levels, district days; ids aside, drawn at random). Prints the
differences and exits 1 if there are any. The baseline must have `sweep.evaluate_all` (issue 35's
chains: since 803315d).
"""

from __future__ import annotations

import argparse
import io
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Run with a tree's code (PYTHONPATH): sweep a database at several instants, pickle it all.
DUMP = r"""
import dataclasses, pickle, sys
from datetime import date, timedelta
from sqlalchemy import text
from service.kit.clock import start_of_local_day
from service.kit.db import make_engine, make_sessionmaker
from service.risk import sweep as S
url, out, first, days, every = sys.argv[1:6]
session = make_sessionmaker(make_engine(url))()
got = {}
real_gather, real_eval = S.gather, S.evaluate_all
def gather(*a, **k):
    got["facts"] = real_gather(*a, **k)
    return got["facts"]
def evaluate_all(*a, **k):
    got["verdicts"] = real_eval(*a, **k)
    return got["verdicts"]
S.gather, S.evaluate_all = gather, evaluate_all
WRITTEN = [
    ("risk_evaluations", "institution_id, as_of, score, level, indicators, created_at",
     "institution_id, as_of"),
    ("risk_alerts", "institution_id, level, status, opened_at, indicators",
     "institution_id, opened_at"),
    ("institution_risk", "*", "institution_id"),
    ("district_days", "*", "region_code, day"),
]
result = {}
for d in range(int(every), int(days) + 1, int(every)):
    as_of = start_of_local_day(date.fromisoformat(first) + timedelta(days=d)) - timedelta(
        microseconds=1)
    answer = S.sweep(session, as_of=as_of, now=as_of)
    answer["written"] = {
        table: [tuple(map(str, r)) for r in session.execute(
            text(f"select {cols} from {table} order by {order}"))]
        for table, cols, order in WRITTEN
    }
    session.rollback()
    facts = {i: dataclasses.asdict(f) for i, f in got["facts"].items()}
    verdicts = {i: (v.level, v.score, [x.record() for x in v.indicators])
                for i, v in got["verdicts"].items()}
    result[as_of.isoformat()] = (facts, verdicts, answer)
pickle.dump(result, open(out, "wb"))
"""


def replay(url: str, n: int, days: int, seed: int, family: str) -> str:
    """The world's history replayed into `url`; its first day."""
    from tools.backtest import Replay
    from tools.cli import _prepared
    from tools.simulate import World

    world = World(n, days, seed, None, family)
    lines = [json.dumps(e, ensure_ascii=False) for e in world.build()]
    sessions, settings = _prepared(url)
    Replay(sessions, settings, io.StringIO(), err=io.StringIO(), default_statements=False).run(
        lines
    )
    return world.start.isoformat()


def dump(tree: Path, url: str, out: Path, first: str, days: int, every: int) -> Any:
    env = {"PYTHONPATH": str(tree), "ENVIRONMENT": "development", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "-c", DUMP, url, str(out), first, str(days), str(every)],
        cwd=tree, env=env, check=True,
    )  # fmt: skip
    with open(out, "rb") as f:
        return pickle.load(f)  # noqa: S301 (written by the child just above)


def differences(base: Any, head: Any) -> list[str]:
    out: list[str] = []
    if base.keys() != head.keys():
        return ["not the same instants"]
    for at in base:
        (fb, vb, ab), (fh, vh, ah) = base[at], head[at]
        if ab != ah:
            out.append(f"{at}: the sweep's answer or written rows differ")
        if fb.keys() != fh.keys():
            out.append(f"{at}: not the same institutions")
            continue
        for i in fb:
            for name in fb[i].keys() | fh[i].keys():
                x, y = fb[i].get(name, "<none>"), fh[i].get(name, "<none>")
                if x != y or repr(x) != repr(y):  # 0.00 against 0 is a difference too
                    out.append(f"{at} {i} {name}: {repr(x)[:120]} | {repr(y)[:120]}")
            if repr(vb[i]) != repr(vh[i]):
                out.append(f"{at} {i} verdict: {repr(vb[i])[:160]} | {repr(vh[i])[:160]}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--url", help="an existing database instead of a replayed world")
    ap.add_argument("--first", help="with --url: the day the instants count from")
    ap.add_argument("--institutions", type=int, default=24)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--family", default="tune")
    ap.add_argument("--every", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-same-") as tmp:
        work = Path(tmp)
        base_tree = work / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(base_tree),
             args.baseline], check=True, capture_output=True,
        )  # fmt: skip
        try:
            if args.url:
                url, first = args.url, args.first
            elif args.database == "sqlite":
                url = f"sqlite:///{work / 'world.db'}"
                first = replay(url, args.institutions, args.days, args.seed, args.family)
            else:
                from bench.common import temporary_pg_database

                with temporary_pg_database("tg_sweep_same") as url:
                    first = replay(url, args.institutions, args.days, args.seed, args.family)
                    found = compare(base_tree, work, url, first, args.days, args.every)
                sys.exit(1 if found else 0)
            found = compare(base_tree, work, url, first, args.days, args.every)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)],
                check=False,
            )
    sys.exit(1 if found else 0)


def compare(base_tree: Path, work: Path, url: str, first: str, days: int, every: int) -> int:
    base = dump(base_tree, url, work / "base.pkl", first, days, every)
    head = dump(ROOT, url, work / "head.pkl", first, days, every)
    found = differences(base, head)
    for line in found[:40]:
        print(line)
    sweeps = sum(len(v[1]) for v in head.values())
    levels: dict[str, int] = {}
    for _facts, verdicts, _answer in head.values():
        for level, _score, _records in verdicts.values():
            levels[level] = levels.get(level, 0) + 1
    print(f"{len(head)} instants, {sweeps} institution-sweeps (levels {levels}): "
          f"{len(found)} differences")  # fmt: skip
    return len(found)


if __name__ == "__main__":
    main()
