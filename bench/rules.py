"""The course rule engine, in process: 100,000 filings against the published guidance prices.

Baseline in the same run: converting every session of every filing to Beijing time (the least
work any check of the calendar rules must do), so the ratio shows what the rules add.

Run: .venv/bin/python bench/rules.py [--filings 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Stopwatch
from service.fees import rules
from service.fees.prices import Band, Guide, GuideBook
from service.kit.clock import SHANGHAI, local

REGIONS = ["110105", "310104", "220102", "440305", "320102", "350102", "140105", "120101"]


def guidebook() -> GuideBook:
    import csv
    from collections import defaultdict

    groups: dict[tuple[str, str], list[Band]] = defaultdict(list)
    path = Path(__file__).resolve().parent.parent / "service" / "data" / "price_guides.csv"
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            groups[(r["region_code"], r["effective_from"])].append(
                Band(
                    mode=r["mode"],
                    grade_band=r["grade_band"],
                    class_size_min=int(r["class_size_min"]),
                    class_size_max=int(r["class_size_max"]) if r["class_size_max"] else None,
                    standard_minutes=int(r["standard_minutes"]),
                    base_price=Decimal(r["base_price"]),
                    max_float_pct=Decimal(r["max_float_pct"]),
                )
            )
    return GuideBook(
        Guide(
            id=f"{k[0]}-{k[1]}",
            region_code=k[0],
            effective_from=date.fromisoformat(k[1]),
            bands=tuple(v),
        )
        for k, v in groups.items()
    )


def filings(n: int, seed: int = 7) -> list[rules.Filing]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        mode = rng.choice(["offline", "offline", "online"])
        minutes = rng.choice([45, 60, 90]) if mode == "offline" else rng.choice([25, 30, 35])
        lessons = rng.randint(8, 40)
        start = datetime(
            2026, 9, 1, rng.choice([16, 17, 18, 19]), rng.choice([0, 15, 30]), tzinfo=SHANGHAI
        )
        step = timedelta(days=rng.choice([1, 2, 3, 7]))
        sessions = tuple(
            (start + step * k, start + step * k + timedelta(minutes=minutes))
            for k in range(lessons)
        )
        out.append(
            rules.Filing(
                category=rng.choice(["subject", "subject", "non_subject"]),
                grade_band=rng.choice(["primary", "junior", "senior", "preschool"]),
                mode=mode,
                class_size=rng.randint(1, 60),
                lesson_minutes=minutes,
                lessons_total=lessons,
                price_per_lesson=Decimal(rng.randint(500, 12000)) / 100,
                list_price_per_lesson=None,
                sessions=sessions,
                region_code=rng.choice(REGIONS),
            )
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--filings", type=int, default=100_000)
    args = ap.parse_args()
    batch = filings(args.filings)
    sessions = sum(len(f.sessions) for f in batch)
    ctx = rules.Context(guides=guidebook())

    watch = Stopwatch()
    for f in batch:
        for s, e in f.sessions:
            local(s)
            local(e)
    baseline = watch.elapsed

    watch = Stopwatch()
    rejected = sum(rules.check(f, ctx).status == "rejected" for f in batch)
    engine = watch.elapsed

    print(f"rule engine: {args.filings:,} filings, {sessions:,} sessions, {rejected:,} rejected")
    print(
        f"  engine                         {engine:8.2f} s   {args.filings / engine:10,.0f} filings/s"
    )
    print(f"  baseline: sessions to Beijing  {baseline:8.2f} s")
    print(f"  ratio engine / baseline        {engine / baseline:8.1f}x")
    print(
        f"  goal: 100,000 filings < 10 s   {'met' if engine * 100_000 / args.filings < 10 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
