"""`tuitionguard simulate`: a synthetic region replayed through the real domain code.

Healthy institutions enrol with the seasons; failing ones follow scenarios drawn from
DOMAIN.md §5 — a discount drive then flight, a slow decline with stalling refunds, a sudden
disappearance with money taken out of escrow (preceded by lessons claimed ahead of the
timetable) — and one closes honestly, refunding everyone, which must not look like flight.
The history is written in the BACKTEST.md format and replayed by the same loader, then:

- recall: failing institutions that reached `high` on a day before their failure day;
- false-positive rate: healthy (and honestly closing) institutions that ever reached `high`;
- median lead time: days from first `high` to the failure day, over the detected.
"""

from __future__ import annotations

import io
import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.fees.calendar import school_day
from service.kit.clock import SHANGHAI
from tools.backtest import Replay

START = date(2026, 3, 2)  # a Monday; the simulated region's first day
PRICE = 25  # yuan per 45-minute lesson: the Changchun ceiling for classes of 10-35
HIGH = ("high", "critical")


@dataclass
class Enr:
    label: str
    inst: str
    sessions: list[datetime]
    reported: int = 0
    refunded: bool = False


@dataclass
class Inst:
    label: str
    scenario: (
        str  # healthy | discount_flight | slow_decline | sudden_disappearance | honest_closure
    )
    fail_day: int | None
    rate: float
    course_seq: int = 0
    courses: list[tuple[str, list[datetime]]] = field(default_factory=list)
    enrollments: list[Enr] = field(default_factory=list)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def _failure_day(rng: random.Random, days: int) -> int:
    """When a failing institution fails: after a quarter of a year of history where there is
    one, else in the second half of a short run (never before day 1, never after the end)."""
    low = max(1, min(75, days // 2))
    return rng.randint(low, max(low, days - 10))


class World:
    def __init__(self, n: int, days: int, seed: int, start: date = START) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.start = start
        self.events: list[dict[str, Any]] = []
        self.txn = 0
        scenarios = ["healthy"] * n
        failing = ["discount_flight", "slow_decline", "sudden_disappearance", "honest_closure"]
        for i in range(max(4, n // 5)):
            if i < n:
                scenarios[i] = failing[i % 4]
        self.rng.shuffle(scenarios)
        self.insts = [
            Inst(
                f"I{i:04d}",
                sc,
                _failure_day(self.rng, days) if sc != "healthy" else None,
                self.rng.uniform(0.2, 0.35),
            )
            for i, sc in enumerate(scenarios)
        ]

    def emit(self, at: datetime, kind: str, **fields: Any) -> None:
        self.events.append({"at": at.isoformat(), "type": kind, **fields})

    def build(self) -> list[dict[str, Any]]:
        first = _at(self.start, 8)
        for inst in self.insts:
            self.emit(
                first,
                "institution",
                id=inst.label,
                name=inst.label,
                region_code="220102",
                category="subject",
                supervision_mode="custody",
            )
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            for inst in self.insts:
                self.day(inst, d, day)
        self.events.sort(key=lambda e: e["at"])
        return self.events

    # ------------------------------------------------------------------ one institution, one day
    def day(self, inst: Inst, d: int, day: date) -> None:
        f = inst.fail_day
        gone = f is not None and d >= f and inst.scenario != "honest_closure"
        if gone:
            self.after_failure(inst, d, day)
            return
        if d % 21 == 0:
            self.file_course(inst, day)
        self.enrol(inst, d, day)
        self.scenario(inst, d, day)  # refunds at 11:00 come before the evening's lesson report
        self.report_lessons(inst, d, day)

    def file_course(self, inst: Inst, day: date) -> None:
        inst.course_seq += 1
        label = f"{inst.label}-C{inst.course_seq}"
        sessions: list[datetime] = []
        cur = _at(day + timedelta(days=1), 16)
        while len(sessions) < 60:
            if school_day(cur.date())[0]:
                sessions.append(cur)
            cur += timedelta(days=1)
        inst.courses.append((label, sessions))
        self.emit(
            _at(day, 8, 30),
            "course",
            id=label,
            institution=inst.label,
            category="subject",
            grade_band="junior",
            mode="offline",
            class_size=20,
            lesson_minutes=45,
            price_per_lesson=f"{PRICE}.00",
            sessions=[
                {"starts_at": s.isoformat(), "ends_at": (s + timedelta(minutes=45)).isoformat()}
                for s in sessions
            ],
        )

    def enrol(
        self, inst: Inst, d: int, day: date, *, boost: float = 1.0, discount: float | None = None
    ) -> None:
        season = 1 + 0.4 * math.sin(2 * math.pi * d / 120)
        rate = inst.rate * season * boost
        f = inst.fail_day
        if inst.scenario == "slow_decline" and f is not None and d >= f - 45:
            rate *= 0.3
        if inst.scenario == "honest_closure" and f is not None and d >= f - 30:
            return
        if inst.scenario == "discount_flight" and f is not None and d >= f - 30:
            rate = max(
                rate * 12, 3.0
            )  # a hoarding promotion: months of enrolments in weeks, 40% off
            discount = 0.6
        count = int(rate) + (self.rng.random() < rate - int(rate))
        for _ in range(count):
            label, sessions = inst.courses[-1]
            at = _at(day, 10, self.rng.randint(0, 59))
            upcoming = [s for s in sessions if s > at]
            lessons = min(len(upcoming), self.rng.randint(30, 45))
            bought = [s for s in upcoming[:lessons] if s.date() <= day + timedelta(days=85)]
            if len(bought) < 10:
                continue
            share = discount if discount is not None else (0.9 if self.rng.random() < 0.15 else 1.0)
            amount = f"{len(bought) * PRICE * share:.2f}"
            enr = Enr(f"{inst.label}-E{len(inst.enrollments) + 1}", inst.label, bought)
            inst.enrollments.append(enr)
            self.emit(
                at, "enrollment", id=enr.label, course=label, lessons=len(bought), amount=amount
            )
            self.txn += 1
            self.emit(
                at + timedelta(minutes=20),
                "deposit",
                bank_txn_id=f"P{self.txn}",
                institution=inst.label,
                enrollment=enr.label,
                amount=amount,
            )

    def report_lessons(self, inst: Inst, d: int, day: date, *, ahead: bool = False) -> None:
        if day.weekday() != 4:  # reports on Fridays
            return
        now = _at(day, 19)
        for enr in inst.enrollments:
            if enr.refunded:
                continue
            due = (
                len(enr.sessions)
                if ahead
                else sum(1 for s in enr.sessions if s <= now - timedelta(hours=2))
            )
            if due > enr.reported:
                self.emit(now, "consumption", enrollment=enr.label, lessons=due - enr.reported)
                enr.reported = due

    def refund(
        self, inst: Inst, enr: Enr, at: datetime, *, answer: str | None, after_days: int = 1
    ) -> str:
        label = f"{enr.label}-R"
        enr.refunded = True
        self.emit(at, "refund_request", id=label, enrollment=enr.label, lessons=None)
        if answer:
            self.emit(
                at + timedelta(days=after_days), "refund_answer", refund=label, decision=answer
            )
        return label

    def scenario(self, inst: Inst, d: int, day: date) -> None:
        f, rng = inst.fail_day, self.rng
        active = [e for e in inst.enrollments if not e.refunded and e.reported < len(e.sessions)]
        if inst.scenario == "healthy" or f is None:
            if active and rng.random() < 0.02:  # the ordinary refund: answered within two days
                self.refund(
                    inst,
                    rng.choice(active),
                    _at(day, 11),
                    answer="accept",
                    after_days=rng.randint(1, 2),
                )
            if rng.random() < 0.01:
                self.emit(_at(day, 20), "complaint", institution=inst.label, category="other")
            return
        if inst.scenario == "discount_flight" and d >= f - 12 and rng.random() < 0.5:
            self.emit(_at(day, 20), "complaint", institution=inst.label, category="refund")
        if inst.scenario == "slow_decline" and d >= f - 45 and active and rng.random() < 0.25:
            # Refunds pile up; the school stops answering them.
            self.refund(inst, rng.choice(active), _at(day, 11), answer=None)
        if inst.scenario == "sudden_disappearance" and d == f - 20:
            self.report_lessons(
                inst,
                d,
                day - timedelta(days=day.weekday() - 4) if day.weekday() >= 4 else day,
                ahead=True,
            )
            for (
                enr
            ) in inst.enrollments:  # every lesson claimed at once, weeks ahead of the timetable
                if not enr.refunded and enr.reported < len(enr.sessions):
                    self.emit(
                        _at(day, 18),
                        "consumption",
                        enrollment=enr.label,
                        lessons=len(enr.sessions) - enr.reported,
                    )
                    enr.reported = len(enr.sessions)
        if inst.scenario == "honest_closure" and d == f - 30:
            for enr in active:
                self.refund(inst, enr, _at(day, 9), answer="accept", after_days=1)

    def after_failure(self, inst: Inst, d: int, day: date) -> None:
        f = inst.fail_day
        assert f is not None
        if d != f:
            return
        if inst.scenario in ("discount_flight", "sudden_disappearance"):
            self.txn += 1
            total = sum(len(e.sessions) * PRICE for e in inst.enrollments)
            self.emit(
                _at(day, 3),
                "bank_debit",
                institution=inst.label,
                bank_txn_id=f"X{self.txn}",
                amount=f"{max(total // 2, 100)}.00",
            )


def simulate(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    institutions: int,
    days: int,
    seed: int,
    events_path: str | None = None,
    start: date = START,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Simulate and replay; `progress` is told each day replayed (its number, from 1)."""
    world = World(institutions, days, seed, start)
    events = world.build()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    if events_path:
        with open(events_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    summary = Replay(sessions, settings, out, err=err, on_day=progress).run(lines)
    first_high: dict[str, date] = {}
    for line in out.getvalue().splitlines():
        row = json.loads(line)
        if "summary" in row or row["level"] not in HIGH:
            continue
        day = date.fromisoformat(row["date"])
        first_high.setdefault(row["institution"], day)
    failing = [i for i in world.insts if i.scenario not in ("healthy", "honest_closure")]
    benign = [i for i in world.insts if i.scenario in ("healthy", "honest_closure")]
    detected, leads = 0, []
    per_scenario: dict[str, dict[str, int]] = {}
    for inst in failing:
        assert inst.fail_day is not None
        fail = world.start + timedelta(days=inst.fail_day)
        seen = first_high.get(inst.label)
        hit = seen is not None and seen < fail
        stats = per_scenario.setdefault(inst.scenario, {"institutions": 0, "detected": 0})
        stats["institutions"] += 1
        if hit:
            assert seen is not None
            detected += 1
            stats["detected"] += 1
            leads.append((fail - seen).days)
    flagged = [i for i in benign if i.label in first_high]
    closures = [i for i in benign if i.scenario == "honest_closure"]
    return {
        "institutions": institutions,
        "days": days,
        "seed": seed,
        "events": summary["events"],
        "skipped": summary["skipped"],
        "failing": len(failing),
        "recall": round(detected / len(failing), 4) if failing else None,
        "false_positive_rate": round(len(flagged) / len(benign), 4) if benign else None,
        "median_lead_days": statistics.median(leads) if leads else None,
        "by_scenario": per_scenario,
        "honest_closures": len(closures),
        "honest_closures_flagged_high": sum(1 for i in closures if i.label in first_high),
        "skipped_examples": err.getvalue().splitlines()[:5],
    }
