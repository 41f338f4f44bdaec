"""`tuitionguard evaluate`: the risk engine measured over several seeds of each family of
simulated regions (tools/simulate.py), per seed and pooled, from one command.

Each (family, seed) is one `tuitionguard simulate` run in a process of its own (its own
scratch database), `--jobs` of them at a time. The pooled figures count institutions, not
runs: recall and recall at 14 days are the failing institutions caught over all seeds' failing
institutions, the false-positive rate the benign ones ever at `high` over all benign ones, the
median lead the median of every caught institution's lead; a shock day or a suspension with a
benign institution at `high` is named with its seed.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tools.simulate import FAILING, LEAD

GOALS = {  # issue 35's goals on the project's own held-back family
    "recall_14_days": 0.95,
    "false_positive_rate": 0.02,
    "median_lead_days": 21,
}


def one(family: str, seed: int, institutions: int, days: int) -> dict[str, Any]:
    """One `simulate` run's report (its own process and scratch database)."""
    env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tools.cli", "simulate", "--family", family, "--seed", str(seed),
         "--institutions", str(institutions), "--days", str(days)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"simulate --family {family} --seed {seed} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"evaluate: {family} seed {seed} done in {report['seconds']} s", file=sys.stderr,
          flush=True)  # fmt: skip
    return report


def pooled(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One family's runs pooled: every figure over institutions, not over runs."""
    per: dict[str, dict[str, Any]] = {}
    for rep in reports:
        for arch, a in rep["by_archetype"].items():
            p = per.setdefault(arch, {"institutions": 0, "flagged_high": 0, "early": 0,
                                      "leads": []})  # fmt: skip
            p["institutions"] += a["institutions"]
            p["flagged_high"] += a["flagged_high"]
            p["early"] += a[f"flagged_{LEAD}_days_ahead"]
            p["leads"] += a.get("lead_days", [])
    failing = sum(r["failing"] for r in reports)
    benign = sum(r["institutions"] - r["failing"] for r in reports)
    failing_kinds = [a for a in per if a in FAILING]
    caught = sum(per[a]["flagged_high"] for a in failing_kinds)
    early = sum(per[a]["early"] for a in failing_kinds)
    leads = [x for a in failing_kinds for x in per[a]["leads"]]
    flagged = [f"seed {r['seed']}: {x}" for r in reports for x in r["false_positives"]]
    return {
        "runs": len(reports),
        "failing": failing,
        "benign": benign,
        "recall": round(caught / failing, 4) if failing else None,
        f"recall_{LEAD}_days": round(early / failing, 4) if failing else None,
        "false_positive_rate": round(len(flagged) / benign, 4) if benign else None,
        "median_lead_days": statistics.median(leads) if leads else None,
        "false_positives": flagged,
        "benign_high_during_shock": [
            f"seed {r['seed']}: {x}" for r in reports for x in r["benign_high_during_shock"]
        ],
        "benign_high_during_suspension": [
            f"seed {r['seed']}: {x}"
            for r in reports
            for x in r.get("benign_high_during_suspension", [])
        ],
        "by_archetype": {
            a: {
                "institutions": p["institutions"],
                "flagged_high": p["flagged_high"],
                f"flagged_{LEAD}_days_ahead": p["early"],
                "median_lead_days": statistics.median(p["leads"]) if p["leads"] else None,
            }
            for a, p in sorted(per.items())
        },
    }


def table(family: str, reports: list[dict[str, Any]], pool: dict[str, Any]) -> list[str]:
    """The family's figures as text: one line a seed, the pooled line, then per archetype."""
    out = [f"family {family}", "  seed   failing  recall  recall@14  FP rate  median lead  "
           "benign high: shock / suspension"]  # fmt: skip
    for r in [*reports, {**pool, "seed": "all"}]:
        shock = r["benign_high_during_shock"]
        susp = r.get("benign_high_during_suspension", [])
        out.append(
            f"  {r['seed']!s:<6} {r['failing']:>7}  {r['recall']:>6}  {r[f'recall_{LEAD}_days']:>9}"
            f"  {r['false_positive_rate']:>7}  {r['median_lead_days']!s:>11}  "
            f"{len(shock)} / {len(susp)}"
        )
    out.append("  per archetype (pooled): institutions, at high, at high 14 days ahead, "
               "median lead")  # fmt: skip
    for arch, a in pool["by_archetype"].items():
        out.append(f"    {arch:<22} {a['institutions']:>4} {a['flagged_high']:>4} "
                   f"{a[f'flagged_{LEAD}_days_ahead']:>4}  {a['median_lead_days']}")  # fmt: skip
    if pool["false_positives"]:
        out.append("  false positives: " + ", ".join(pool["false_positives"]))
    return out


def evaluate(
    families: list[str], seeds: list[int], *, institutions: int, days: int, jobs: int
) -> dict[str, Any]:
    runs = [(f, s) for f in families for s in seeds]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = list(pool.map(lambda fs: one(fs[0], fs[1], institutions, days), runs))
    out: dict[str, Any] = {"institutions": institutions, "days": days, "seeds": seeds,
                           "goals_holdout": GOALS, "families": {}}  # fmt: skip
    for family in families:
        mine = [r for (f, _), r in zip(runs, reports, strict=True) if f == family]
        out["families"][family] = {"pooled": pooled(mine), "per_seed": mine}
    return out


def parse_seeds(text: str) -> list[int]:
    """`1,2,5` or `1-3` (or both: `1-3,7`)."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds
