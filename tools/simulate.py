"""`tuitionguard simulate`: synthetic regions replayed through the real domain code, to measure
the risk engine as a regulator would: how many failing institutions it flags before they fail,
with their own warning signs, how early, and how many healthy ones it flags for nothing.

A region mixes archetypes. Benign ones are the traps an early-warning engine falls into:
subject schools whose autumn term starts after a summer lull, summer camps sold in a rush and
then delivered, new schools ramping up, schools joining the platform mid-term with their
students' remaining packages, large chains with complaints in proportion to their size, a
teacher leaving and her class refunded promptly, a legitimate move or change of owner, a bank
that misses a statement or two, reserve-mode schools funding their reserve, and honest
closures (notice, then every parent refunded on time). Failing ones follow the collapse
patterns of docs/domain.md, "Warning signs": a discount drive then flight, a slow decline
with stalling refunds, lessons claimed ahead then money taken, refunds contested in bulk,
teaching stopped while lessons are still billed, repeated changes of legal person, a bank gone
silent, parents asked to pay off the platform; and the quiet failures of issue 35: a slow
bleed (refunds answered later and later inside the deadline, more contested, renewals thinning
at full price), a professional closer (a young school selling the longest packages at half
price, then gone), a chain whose campuses fail three weeks apart (one sponsor), a walkout
(classes cancelled in waves). Their look-alikes are benign: a chain that closes one campus
and refunds everyone, a young school with a fair launch offer, a school whose answers wait
for the end of a public holiday. A region-wide shock hits every history: the bank of a third
of the region silent for eight days. So does a systemic event of another kind: the schools of
one of the city's districts have their classes suspended by order for two and a half weeks
(every lesson of the window cancelled, a few parents asking for refunds and complaining),
then resume. Every institution also makes noise: ordinary refunds, complaints, disputed
lessons.

Two families of regions are written: `tune`, used while the engine's defaults were chosen, and
`holdout`, never used for that: another city with its own price guide, a platform that goes
live mid-term (every school arrives with packages already sold), banks that send statements
on working days only, other rates and mixes. Results are reported per archetype: recall
(flagged `high` or above before the failure day, by one of the failure's own indicators),
false-positive rate (a benign institution ever `high` or above), and lead time; recall
again counting only detections at least 14 days ahead; and the benign institutions at `high`
during the shock and during the district's suspension (and a week after it).
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

START = date(2026, 3, 2)  # a Monday, the spring term's first week
HIGH = ("high", "critical")

BENIGN = (
    "healthy", "arts", "summer_camp", "new_school", "joins_mid_term", "large_chain",
    "teacher_leaves", "legit_move", "ownership_change", "bank_outage", "reserve_mode",
    "honest_closure", "honest_chain", "fair_launch", "holiday_slowdown",
)  # fmt: skip
FAILING = (
    "discount_flight", "slow_decline", "sudden_disappearance", "refund_stonewall",
    "teaching_stopped", "registry_churn", "bank_silence", "off_platform",
    "slow_bleed", "professional_closer", "chain_collapse", "walkout",
)  # fmt: skip
SUSPENSION_DAYS = 18  # a district's classes suspended by order: two and a half weeks
LEAD = 14  # days: the early warning a parent can still act on (recall is counted at it too)
BLEED = ("refund_latency", "dispute_trend", "renewal_decline", "refund_velocity",
         "refund_disputes", "complaint_surge", "refund_overdue")  # fmt: skip
# The indicators that are a failure's own warning signs: a detection counts when the first
# day at `high` carries one of them.
OWN_SIGNALS: dict[str, frozenset[str]] = {
    "discount_flight": frozenset({"prepay_surge", "deep_discount", "complaint_surge"}),
    "slow_decline": frozenset(
        {"refund_overdue", "refund_velocity", "consumption_stall", "complaint_surge"}
    ),
    "sudden_disappearance": frozenset({"consumption_pace", "escrow_shortfall"}),
    # A stonewall contests most of its refunds: the contested share rising (`dispute_trend`,
    # before there are enough for `refund_disputes`' bulk) is its own sign.
    "refund_stonewall": frozenset(
        {"refund_disputes", "dispute_trend", "complaint_surge", "refund_overdue"}
    ),
    "teaching_stopped": frozenset({"lesson_disputes", "complaint_surge", "consumption_stall"}),
    "registry_churn": frozenset(
        {"registry_change", "refund_overdue", "refund_velocity", "complaint_surge"}
    ),
    "bank_silence": frozenset({"statement_missing", "escrow_shortfall"}),
    "off_platform": frozenset({"off_platform", "complaint_surge"}),
    "slow_bleed": frozenset(BLEED),
    "professional_closer": frozenset(
        {"young_school", "deep_discount", "prepay_surge", "complaint_surge"}
    ),
    "chain_collapse": frozenset({"chain_sibling", "escrow_shortfall", *BLEED}),
    "walkout": frozenset(
        {
            "delivery_share",
            "complaint_surge",
            "refund_velocity",
            "consumption_stall",
            "lesson_disputes",
        }
    ),
}


@dataclass(frozen=True)
class Family:
    """What makes one family of regions differ from another."""

    name: str
    region: str  # the first of the city's districts the schools are registered in
    districts: tuple[str, ...]  # every district, the schools spread over them in turn
    price: int  # yuan per 45-minute subject lesson (at or under the guide's ceiling)
    guide: dict[str, Any] | None  # a price guide event the history carries, if needed
    working_day_statements: bool  # banks send statements on working days only
    go_live: bool  # the history starts mid-term, every school with packages already sold
    start: date
    failing_share: float
    rate: tuple[float, float]  # enrolments a day, for an ordinary school
    summer: tuple[date, date]  # the subject schools' summer vacation (no sessions)


FAMILIES = {
    "tune": Family(
        "tune", "220102", ("220102", "220103", "220104", "220105"), 25, None, False, False,
        START, 0.3, (0.6, 1.2),
        (date(2026, 7, 11), date(2026, 8, 31)),
    ),
    "holdout": Family(
        "holdout", "220204", ("220204", "220202", "220203", "220211"), 30,
        {"region_code": "220200", "effective_from": "2026-01-01", "items": [
            {"mode": "offline", "grade_band": "any", "class_size_min": 1,
             "class_size_max": 9, "standard_minutes": 45, "base_price": "40",
             "max_float_pct": "10"},
            {"mode": "offline", "grade_band": "any", "class_size_min": 10,
             "class_size_max": 35, "standard_minutes": 45, "base_price": "30",
             "max_float_pct": "10"},
            {"mode": "offline", "grade_band": "any", "class_size_min": 36,
             "class_size_max": None, "standard_minutes": 45, "base_price": "20",
             "max_float_pct": "10"}]},
        True, True, date(2026, 4, 13), 0.25, (0.4, 1.5),
        (date(2026, 7, 4), date(2026, 8, 27)),
    ),
}  # fmt: skip


@dataclass
class Enr:
    label: str
    sessions: list[datetime]
    amount: int  # fen
    paid_at: datetime  # its deposit: a report or a refund comes after it, never before
    reported: int = 0  # sessions accounted for: held and billed, or cancelled
    refunded: bool = False
    billed: int = 0  # lessons reported as held (what the parent has paid for and had)


@dataclass
class Inst:
    label: str
    archetype: str
    category: str
    district: str  # its region code (6 digits): one of the family's districts
    joins: int  # the day it joins the platform
    fail_day: int | None  # failing: the day it fails; honest closure: the day it closes
    rate: float
    event_day: int  # when an archetype's own event happens (a teacher leaving, a move...)
    courses: list[tuple[str, list[datetime]]] = field(default_factory=list)
    enrollments: list[Enr] = field(default_factory=list)
    silent_from: int | None = None  # its bank sends no statements from this day
    sponsor: str | None = None  # the chain it belongs to (举办者)
    refunds: list[tuple[str, int]] = field(default_factory=list)  # (label, day requested)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class World:
    """A region's history in the docs/backtest.md format, and what each institution is."""

    def __init__(
        self,
        n: int,
        days: int,
        seed: int,
        start: date | None = None,
        family: str = "tune",
        scale: float = 1.0,
        suspension: bool = True,
    ) -> None:
        self.fam = FAMILIES[family]
        self.scale = scale  # the schools' sizes against the family's (a demo wants them small)
        self.rng = random.Random(seed)
        self.days = days
        self.start = start or self.fam.start
        self.events: list[dict[str, Any]] = []
        self.txn = 0
        self.insts = [self._inst(i, a) for i, a in enumerate(self._archetypes(n))]
        self._chains()
        # A region-wide shock: the bank of a third of the region silent for eight days.
        self.shock = (max(1, days * 3 // 5), max(1, days * 3 // 5) + 8)
        # A district's classes suspended by order (the city's second district: a quarter of
        # its schools), in spring term time, well before the shock. Only a district of five
        # schools or more: under that the engine judges each school (docs/risk.md).
        district = [i for i in self.insts if i.district == self.fam.districts[1]]
        self.suspended = self.fam.districts[1] if suspension and len(district) >= 5 else ""
        self.suspension = self._suspension_days()

    def _suspension_days(self) -> tuple[int, int]:
        """The suspension's first day and the day classes resume: from the first Monday six
        weeks into the history (term time in both families, no public holiday inside), or a
        quarter into a history too short for that."""
        begin = 42 + (7 - (self.start + timedelta(days=42)).weekday()) % 7
        if begin + SUSPENSION_DAYS > self.days - 5:
            begin = self.days // 4
        return begin, begin + SUSPENSION_DAYS

    def suspended_on(self, inst: Inst, day: date) -> bool:
        """Whether `inst`'s classes are suspended by order on `day`."""
        if inst.district != self.suspended:
            return False
        first = self.start + timedelta(days=self.suspension[0])
        return first <= day < first + timedelta(days=SUSPENSION_DAYS)

    # ------------------------------------------------------------------ the region's make-up
    def _archetypes(self, n: int) -> list[str]:
        """About `failing_share` failing, spread over the failure modes; the rest benign,
        half of them ordinary schools, the others spread over the traps."""
        failing = max(4, round(n * self.fam.failing_share)) if n >= 8 else n // 3
        out = [FAILING[i % len(FAILING)] for i in range(failing)]
        traps = BENIGN[1:]
        benign = n - failing
        out += [traps[(i // 2) % len(traps)] if i % 2 else "healthy" for i in range(benign)]
        self.rng.shuffle(out)
        return out

    def _inst(self, i: int, archetype: str) -> Inst:
        rng, days = self.rng, self.days
        low, high = self.fam.rate
        rate = rng.uniform(low, high) * (6 if archetype == "large_chain" else 1) * self.scale
        category = "non_subject" if archetype in ("arts", "summer_camp") else "subject"
        joins = 0
        if archetype == "new_school":
            joins = rng.randint(days // 3, max(days // 3, days * 2 // 3))
        elif archetype == "joins_mid_term":
            joins = rng.randint(days // 4, max(days // 4, days // 2))
        elif archetype == "fair_launch":
            joins = rng.randint(days // 3, max(days // 3, days * 2 // 3))
        fail = None
        if archetype in FAILING or archetype in ("honest_closure", "honest_chain"):
            fail = self._fail_day(category)
        if archetype == "professional_closer" and fail is not None:
            joins = max(0, fail - rng.randint(90, 150))  # a few months old when it vanishes
        event = rng.randint(max(1, days // 4), max(1, days // 4, days - 10))
        district = self.fam.districts[i % len(self.fam.districts)]
        return Inst(f"I{i:04d}", archetype, category, district, joins, fail, rate, event)

    def _chains(self) -> None:
        """Campuses of one sponsor, three to a chain: a collapsing chain fails campus after
        campus, three weeks apart; an honest one closes one campus and refunds everyone,
        the others go on."""
        for kind in ("chain_collapse", "honest_chain"):
            members = [i for i in self.insts if i.archetype == kind]
            for k in range(0, len(members), 3):
                group = members[k : k + 3]
                first = group[0]
                if first.fail_day is not None:  # the last campus fails inside the history
                    first.fail_day = max(
                        1, min(first.fail_day, self.days - 2 - 21 * (len(group) - 1))
                    )
                for n, inst in enumerate(group):
                    inst.sponsor = f"S-{first.label}"
                    if kind == "honest_chain":
                        inst.fail_day = first.fail_day if n == 0 else None
                    elif first.fail_day is not None:
                        inst.fail_day = min(first.fail_day + 21 * n, self.days - 2)

    def _fail_day(self, category: str) -> int:
        """When a failing school fails (or a closing one closes): after a quarter of a year
        of history where there is one; for a subject school, with the six weeks before it
        in term time (a school that goes under in the summer lull shows little of anything)."""
        low = max(1, min(100, self.days // 2))
        days = list(range(low, max(low + 1, self.days - 5)))
        if category == "subject":
            begin = (self.fam.summer[0] - self.start).days - 5
            end = (self.fam.summer[1] - self.start).days + 15
            days = [d for d in days if d - 45 > end or d < begin] or days
        return self.rng.choice(days)

    def emit(self, at: datetime, kind: str, **fields: Any) -> None:
        self.events.append({"at": at.isoformat(), "type": kind, **fields})

    # ------------------------------------------------------------------ the whole history
    def build(self) -> list[dict[str, Any]]:
        first = _at(self.start, 7)
        if self.fam.guide is not None:
            self.emit(first, "price_guide", **self.fam.guide)
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            for inst in self.insts:
                self.day(inst, d, day)
        self.events.sort(key=lambda e: e["at"])
        return self.events

    def day(self, inst: Inst, d: int, day: date) -> None:
        if d < inst.joins:
            return
        if d == inst.joins:
            self.join(inst, day)
        f = inst.fail_day
        if f is not None and d > f and inst.archetype in FAILING:
            return  # gone: nothing more happens there
        if f is not None and d > f:  # closed honestly
            self.statement(inst, d, day)
            return
        if (d - inst.joins) % 28 == 0:
            self.file_course(inst, day)
        self.enrol(inst, d, day)
        self.behave(inst, d, day)
        self.noise(inst, d, day)
        if self.suspended_on(inst, day):
            self.under_order(inst, day)
        self.report_lessons(inst, d, day)
        self.statement(inst, d, day)

    def join(self, inst: Inst, day: date) -> None:
        mode = "reserve" if inst.archetype == "reserve_mode" else "custody"
        sponsor = {"sponsor": inst.sponsor} if inst.sponsor else {}
        self.emit(_at(day, 7, 30), "institution", id=inst.label, name=inst.label,
                  region_code=inst.district, category=inst.category,
                  supervision_mode=mode, **sponsor)  # fmt: skip
        self.file_course(inst, day)
        carried = inst.archetype == "joins_mid_term" or (
            self.fam.go_live and inst.joins == 0 and inst.archetype != "professional_closer"
        )
        if carried:  # its students' remaining packages arrive with it
            for _ in range(int(inst.rate * 60)):
                self.enrollment(inst, _at(day, 9, self.rng.randint(0, 59)))

    # ------------------------------------------------------------------ courses and enrolments
    def meets(self, inst: Inst, day: date) -> bool:
        """Subject classes meet after school on school days, outside the vacation; arts and
        camps any day but Sunday."""
        if inst.category == "non_subject":
            return day.weekday() != 6
        summer = self.fam.summer
        return school_day(day)[0] and not (summer[0] <= day <= summer[1])

    def file_course(self, inst: Inst, day: date) -> None:
        label = f"{inst.label}-C{len(inst.courses) + 1}"
        sessions: list[datetime] = []
        cur = day + timedelta(days=1)
        hour = 17 if inst.category == "subject" else 10
        while cur <= day + timedelta(days=150):
            if self.meets(inst, cur):
                sessions.append(_at(cur, hour))
            cur += timedelta(days=1)
        if not sessions:
            return
        inst.courses.append((label, sessions))
        price = self.fam.price if inst.category == "subject" else 60
        self.emit(
            _at(day, 8, 30), "course", id=label, institution=inst.label,
            category=inst.category, grade_band="junior", mode="offline", class_size=20,
            lesson_minutes=45, price_per_lesson=f"{price}.00",
            sessions=[{"starts_at": s.isoformat(),
                       "ends_at": (s + timedelta(minutes=45)).isoformat()} for s in sessions],
        )  # fmt: skip

    def demand(self, inst: Inst, day: date) -> float:
        """Enrolments a day: the season of its kind of school."""
        if inst.archetype == "summer_camp":
            return 6.0 if day.month == 6 else (0.2 if day.month in (7, 8) else 0.5)
        if inst.category == "non_subject":
            return 1.0
        summer = self.fam.summer
        if summer[0] - timedelta(days=10) <= day < summer[1] - timedelta(days=14):
            return 0.05  # the summer lull
        if summer[1] - timedelta(days=14) <= day <= summer[1] + timedelta(days=18):
            return 3.0  # the autumn term's start
        return 1.0 + 0.2 * math.sin(2 * math.pi * (day.toordinal() % 120) / 120)

    def enrol(self, inst: Inst, d: int, day: date) -> None:
        rate = inst.rate * self.demand(inst, day)
        share, longest = None, None
        f = inst.fail_day
        if inst.archetype in ("new_school", "fair_launch"):
            rate *= min(1.0, (d - inst.joins + 5) / 60)
        if inst.archetype == "fair_launch" and d - inst.joins < 30:
            share = 0.65  # a launch offer: a third off, for a month, ordinary packages
        if f is not None:
            rate, share, longest = self.failing_sales(inst, d, rate, share)
        n = int(rate) + (self.rng.random() < rate - int(rate))
        for _ in range(n):
            self.enrollment(inst, _at(day, 10, self.rng.randint(0, 59)), share, longest)

    def failing_sales(
        self, inst: Inst, d: int, rate: float, share: float | None = None
    ) -> tuple[float, float | None, bool | None]:
        f = inst.fail_day
        assert f is not None
        a = inst.archetype
        if a == "discount_flight" and d >= f - 30:
            return max(rate * 10, 5.0), 0.55, True  # a hoarding promotion
        if a == "professional_closer":  # half price, the longest packages, a last push
            ramp = min(1.0, (d - inst.joins + 5) / 30)
            return rate * ramp * (4.0 if d >= f - 20 else 1.5), 0.5, True
        if a in ("slow_bleed", "chain_collapse") and d >= f - 120:
            return rate * (1 - bleed(inst, d)) ** 2, None, None  # renewals thinning
        if a == "honest_chain" and d >= f - 30:
            return 0.0, None, None
        if a in ("slow_decline", "off_platform") and d >= f - 45:
            return rate * 0.3, None, None
        if a == "honest_closure" and d >= f - 30:
            return 0.0, None, None
        return rate, share, None

    def enrollment(
        self, inst: Inst, at: datetime, share: float | None = None, longest: bool | None = None
    ) -> None:
        if not inst.courses:
            return
        label, sessions = inst.courses[-1]
        upcoming = [s for s in sessions if s > at]
        if not upcoming or upcoming[0].date() > at.date() + timedelta(days=28):
            return
        wanted = 60 if longest else self.rng.randint(15, 40)
        if inst.archetype == "summer_camp":
            wanted = self.rng.randint(8, 16)
        bought = [s for s in upcoming[:wanted] if s.date() <= at.date() + timedelta(days=88)]
        if len(bought) < 4:
            return
        price = self.fam.price if inst.category == "subject" else 60
        if share is None:
            share = 0.9 if self.rng.random() < 0.1 else 1.0
        amount = int(len(bought) * price * 100 * share)
        if inst.category == "non_subject":
            amount = min(amount, 500_000)
        enr = Enr(f"{inst.label}-E{len(inst.enrollments) + 1}", bought, amount,
                  at + timedelta(minutes=20))  # fmt: skip
        inst.enrollments.append(enr)
        yuan = f"{amount // 100}.{amount % 100:02d}"
        self.emit(at, "enrollment", id=enr.label, course=label, lessons=len(bought),
                  amount=yuan)  # fmt: skip
        self.txn += 1
        self.emit(enr.paid_at, "deposit", bank_txn_id=f"P{self.txn}",
                  institution=inst.label, enrollment=enr.label, amount=yuan)  # fmt: skip
        if inst.archetype == "reserve_mode":  # the reserve grows with what it owes
            self.txn += 1
            self.emit(at + timedelta(minutes=30), "reserve_deposit", bank_txn_id=f"R{self.txn}",
                      institution=inst.label, amount=yuan)  # fmt: skip

    # ------------------------------------------------------------------ lessons and refunds
    def report_lessons(self, inst: Inst, d: int, day: date, *, ahead: bool = False) -> None:
        """Lessons reported each Saturday morning for the week's sessions."""
        if day.weekday() != 5 and not ahead:
            return
        if self.stopped_teaching(inst, d):
            return
        now = _at(day, 9)
        cancelled = walked_out(inst, d)
        # Only what is paid for by 09:00: a school claiming every lesson ahead on a day it also
        # sells cannot claim the lessons of an enrollment made at 10:00 (the history named it
        # before it was made, and the replay skipped the line as an unknown enrollment).
        for enr in inst.enrollments:
            if enr.refunded or enr.paid_at > now:
                continue
            due = len(enr.sessions) if ahead else sum(1 for s in enr.sessions if s <= now)
            if due > enr.reported and cancelled and self.rng.random() < cancelled:
                enr.reported = due  # the week's classes cancelled: never held, never billed
                continue
            if due > enr.reported:
                held = self.held(inst, enr, due, now)
                if held:
                    self.emit(now, "consumption", enrollment=enr.label, lessons=held)
                enr.billed += held
                enr.reported = due
                if held:
                    self.maybe_dispute(inst, d, enr, now)

    def held(self, inst: Inst, enr: Enr, due: int, now: datetime) -> int:
        """How many of the sessions due since the last report were held: all of them but
        those a suspension by order cancelled (never billed). Lessons claimed ahead before
        the order count sessions it will cancel: nobody knew of it yet."""
        due_now = enr.sessions[enr.reported : due]
        if inst.district != self.suspended:
            return len(due_now)
        return sum(1 for s in due_now if s > now or not self.suspended_on(inst, s.date()))

    def under_order(self, inst: Inst, day: date) -> None:
        """A day of the suspension: now and then a parent asks for the rest of a package
        back (answered, accepted, within two days) or complains that teaching stopped."""
        active, rng = self.active(inst), self.rng
        if active and rng.random() < 0.004 * len(active):
            self.refund(inst, rng.choice(active), _at(day, 12), answer="accept",
                        after_hours=rng.randint(6, 48))  # fmt: skip
        if rng.random() < 0.06:
            self.emit(_at(day, 20, rng.randint(0, 59)), "complaint", institution=inst.label,
                      category="teaching_stopped")  # fmt: skip

    def stopped_teaching(self, inst: Inst, d: int) -> bool:
        f = inst.fail_day
        return inst.archetype == "slow_decline" and f is not None and d >= f - 20

    def maybe_dispute(self, inst: Inst, d: int, enr: Enr, now: datetime) -> None:
        f = inst.fail_day
        chance = 0.01
        if inst.archetype == "teaching_stopped" and f is not None and d >= f - 35:
            chance = 0.4
        if self.rng.random() < chance:
            self.emit(now + timedelta(hours=30), "dispute", enrollment=enr.label)

    def active(self, inst: Inst) -> list[Enr]:
        return [e for e in inst.enrollments if not e.refunded and e.reported < len(e.sessions)]

    def refund(
        self, inst: Inst, enr: Enr, at: datetime, *, answer: str | None, after_hours: int = 30
    ) -> str:
        label = f"{enr.label}-R"
        enr.refunded = True
        # A parent asks back what they paid, so after paying it: an enrollment sold at 10:49
        # and paid at 11:09 was asked back at 11:00, and the replay found nothing to refund.
        at = max(at, enr.paid_at + timedelta(minutes=1))
        self.emit(at, "refund_request", id=label, enrollment=enr.label, lessons=None)
        if answer:
            self.emit(at + timedelta(hours=after_hours), "refund_answer", refund=label,
                      decision=answer)  # fmt: skip
        return label

    def complain(self, inst: Inst, day: date, category: str, chance: float) -> None:
        if self.rng.random() < chance:
            self.emit(_at(day, 20, self.rng.randint(0, 59)), "complaint", institution=inst.label,
                      category=category)  # fmt: skip

    def noise(self, inst: Inst, d: int, day: date) -> None:
        """What every school sees: a refund now and then (now and then contested), a
        complaint now and then."""
        active = self.active(inst)
        size = max(1, len(active))
        if active and self.rng.random() < 0.0008 * size:
            honest = inst.archetype == "honest_closure"  # it contests nothing, ever
            answer = "dispute" if self.rng.random() < 0.1 and not honest else "accept"
            self.refund(inst, self.rng.choice(active), _at(day, 11), answer=answer,
                        after_hours=self.rng.randint(6, 60))  # fmt: skip
        kind = self.rng.choice(("refund", "teaching_stopped", "other", "other"))
        self.complain(inst, day, kind, 0.0003 * size)

    # ------------------------------------------------------------------ the bank's statements
    def statement(self, inst: Inst, d: int, day: date) -> None:
        if inst.silent_from is not None and d >= inst.silent_from:
            return
        if self.shock[0] <= d < self.shock[1] and int(inst.label[1:]) % 3 == 0:
            return  # the region-wide shock: a third of the region's statements stop
        if self.fam.working_day_statements and not school_day(day)[0]:
            return
        if inst.archetype == "bank_outage" and inst.event_day <= d < inst.event_day + 2:
            return
        self.emit(_at(day, 23, 30), "statement", institution=inst.label)

    # ------------------------------------------------------------------ what each archetype does
    def behave(self, inst: Inst, d: int, day: date) -> None:
        a = inst.archetype
        if a in FAILING:
            FAILURES[a](self, inst, d, day)
        elif a in TRAPS:
            TRAPS[a](self, inst, d, day)

    def after_failure_day(self, inst: Inst, d: int, day: date, *, take: bool) -> None:
        """The failure day: the owner takes what the escrow account holds, or just goes."""
        if d != inst.fail_day or not take:
            return
        self.txn += 1
        owed = sum(e.amount * (len(e.sessions) - e.reported) // max(len(e.sessions), 1)
                   for e in inst.enrollments if not e.refunded)  # fmt: skip
        amount = max(owed // 2, 10_000)
        self.emit(_at(day, 3), "bank_debit", institution=inst.label, bank_txn_id=f"X{self.txn}",
                  amount=f"{amount // 100}.{amount % 100:02d}")  # fmt: skip


# ---------------------------------------------------------------------- failure modes
def _discount_flight(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d >= f - 12:
        w.complain(inst, day, "refund", 0.4)
    w.after_failure_day(inst, d, day, take=True)


def _slow_decline(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    active = w.active(inst)
    if d >= f - 45 and active and w.rng.random() < 0.2:
        w.refund(inst, w.rng.choice(active), _at(day, 11), answer=None)  # never answered
    if d >= f - 20:
        w.complain(inst, day, "teaching_stopped", 0.25)


def _sudden_disappearance(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d == f - 20:  # every lesson claimed at once, weeks ahead of the timetable
        w.report_lessons(inst, d, day, ahead=True)
    w.after_failure_day(inst, d, day, take=True)


def _refund_stonewall(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    active = w.active(inst)
    if d >= f - 40 and active and w.rng.random() < 0.3:
        answer = "dispute" if w.rng.random() < 0.8 else "accept"
        w.refund(inst, w.rng.choice(active), _at(day, 11), answer=answer, after_hours=40)
    if d >= f - 25:
        w.complain(inst, day, "refund", 0.2)


def _teaching_stopped(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d >= f - 30:
        w.complain(inst, day, "teaching_stopped", 0.15)


def _registry_churn(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    for offset, what in ((60, "legal_person"), (40, "address"), (20, "legal_person")):
        if d == f - offset:
            w.emit(_at(day, 9), "registry_change", institution=inst.label, field=what)
    active = w.active(inst)
    if d >= f - 20 and active and w.rng.random() < 0.1:
        w.refund(inst, w.rng.choice(active), _at(day, 11), answer=None)


def _bank_silence(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d == f - 30:
        inst.silent_from = d  # the account moved where the bank no longer reports it
    w.after_failure_day(inst, d, day, take=True)


def _off_platform(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d >= f - 40:
        w.complain(inst, day, "asked_to_pay_off_platform", 0.1)
    if d >= f - 30 and w.rng.random() < 0.05:  # a parent pays the old way, with no reference
        w.txn += 1
        w.emit(_at(day, 14), "deposit", bank_txn_id=f"U{w.txn}", institution=inst.label,
               enrollment=None, amount=f"{w.fam.price * 20}.00")  # fmt: skip


def bleed(inst: Inst, d: int) -> float:
    """How far a slow bleed has gone, 0 to 1: over four months to its failure (a chain's
    later campuses: the seven weeks before theirs)."""
    f = inst.fail_day
    if f is None or inst.archetype not in ("slow_bleed", "chain_collapse"):
        return 0.0
    first = inst.sponsor is None or inst.sponsor == f"S-{inst.label}"
    span = 120 if first else 50
    return min(1.0, max(0.0, (d - (f - span)) / span))


def walked_out(inst: Inst, d: int) -> float:
    """The share of a week's classes a walkout cancels: a third, then half, then most."""
    f = inst.fail_day
    if inst.archetype != "walkout" or f is None or d < f - 60:
        return 0.0
    return 1 / 3 if d < f - 42 else (0.5 if d < f - 24 else 0.85)


def _slow_bleed(w: World, inst: Inst, d: int, day: date) -> None:
    """Refunds asked more often, answered later and later inside the deadline (day 1, then 3,
    then 4), a growing share contested, complaints creeping up; then the money taken."""
    p = bleed(inst, d)
    active = w.active(inst)
    if p > 0 and active and w.rng.random() < 0.05 + 0.2 * p:
        answer = "dispute" if w.rng.random() < 0.1 + 0.5 * p else "accept"
        w.refund(inst, w.rng.choice(active), _at(day, 11), answer=answer,
                 after_hours=int(24 * (1 + 3 * p)) + w.rng.randint(0, 6))  # fmt: skip
    if p > 0:
        w.complain(inst, day, "refund", 0.01 + 0.08 * p)
    w.after_failure_day(inst, d, day, take=True)


def _professional_closer(w: World, inst: Inst, d: int, day: date) -> None:
    f = inst.fail_day
    assert f is not None
    if d >= f - 10:
        w.complain(inst, day, "refund", 0.2)
    w.after_failure_day(inst, d, day, take=True)


def _walkout(w: World, inst: Inst, d: int, day: date) -> None:
    """Teachers unpaid: classes cancelled in waves (report_lessons), parents complaining of
    teaching stopped, refunds rising (answered), then the school gone."""
    f = inst.fail_day
    assert f is not None
    if d >= f - 42:
        w.complain(inst, day, "teaching_stopped", 0.12)
    active = w.active(inst)
    if d >= f - 30 and active and w.rng.random() < 0.15:
        w.refund(inst, w.rng.choice(active), _at(day, 11), answer="accept", after_hours=24)
    w.after_failure_day(inst, d, day, take=True)


FAILURES: dict[str, Callable[[World, Inst, int, date], None]] = {
    "discount_flight": _discount_flight,
    "slow_decline": _slow_decline,
    "sudden_disappearance": _sudden_disappearance,
    "refund_stonewall": _refund_stonewall,
    "teaching_stopped": _teaching_stopped,
    "registry_churn": _registry_churn,
    "bank_silence": _bank_silence,
    "off_platform": _off_platform,
    "slow_bleed": _slow_bleed,
    "professional_closer": _professional_closer,
    "chain_collapse": _slow_bleed,
    "walkout": _walkout,
}


# ---------------------------------------------------------------------- benign traps
def _teacher_leaves(w: World, inst: Inst, d: int, day: date) -> None:
    """A teacher leaves: her class (a third of the active students) is refunded promptly,
    and a few parents complain."""
    if d != inst.event_day:
        return
    active = w.active(inst)
    for enr in active[: max(3, len(active) // 3)]:
        w.refund(inst, enr, _at(day, 11, w.rng.randint(0, 59)), answer="accept",
                 after_hours=w.rng.randint(4, 48))  # fmt: skip
    for _ in range(2):
        w.complain(inst, day, "teaching_stopped", 1.0)


def _legit_move(w: World, inst: Inst, d: int, day: date) -> None:
    if d == inst.event_day:
        w.emit(_at(day, 9), "registry_change", institution=inst.label, field="address")


def _ownership_change(w: World, inst: Inst, d: int, day: date) -> None:
    if d == inst.event_day:
        w.emit(_at(day, 9), "registry_change", institution=inst.label, field="legal_person")


def _honest_closure(w: World, inst: Inst, d: int, day: date) -> None:
    """A month's notice, then every parent refunded, answered the next day."""
    f = inst.fail_day
    assert f is not None
    if d == f - 30:
        effective = w.start + timedelta(days=f)
        w.emit(_at(day, 9), "closure_notice", institution=inst.label,
               effective=effective.isoformat())  # fmt: skip
    if d == f - 28:
        _refund_cancelled(w, inst, day)
    if f - 28 <= d <= f - 20:
        for enr in w.active(inst)[:12]:
            w.refund(inst, enr, _at(day, 11, w.rng.randint(0, 59)), answer="accept",
                     after_hours=w.rng.randint(4, 40))  # fmt: skip
    if d >= f - 28:
        w.complain(inst, day, "other", 0.05)


def _refund_cancelled(w: World, inst: Inst, day: date) -> None:
    """An honest closure refunds too the parents whose sessions are all past but not all
    held (a suspension by order cancelled some, never billed): `World.active` leaves them
    out, and their money is still theirs. At a fixed hour, with no random draw, so that
    every other institution's history stays as it was."""
    for enr in inst.enrollments:
        if not enr.refunded and enr.reported >= len(enr.sessions) > enr.billed:
            w.refund(inst, enr, _at(day, 11), answer="accept", after_hours=24)


def _honest_chain(w: World, inst: Inst, d: int, day: date) -> None:
    """One campus of a chain closes honestly (the others are ordinary schools)."""
    if inst.fail_day is not None:
        _honest_closure(w, inst, d, day)


def _holiday_slowdown(w: World, inst: Inst, d: int, day: date) -> None:
    """Parents ask for refunds over a public holiday; the school answers when it reopens:
    days later by the calendar, a working day by the calendar of working days."""
    working, why = school_day(day)
    active = w.active(inst)
    if working or why == "weekend" or not active or w.rng.random() > 0.5:
        return
    reopen = day + timedelta(days=1)
    while not school_day(reopen)[0]:
        reopen += timedelta(days=1)
    hours = int((_at(reopen, 10) - _at(day, 11)).total_seconds() // 3600)
    w.refund(inst, w.rng.choice(active), _at(day, 11), answer="accept", after_hours=hours)


TRAPS: dict[str, Callable[[World, Inst, int, date], None]] = {
    "honest_chain": _honest_chain,
    "holiday_slowdown": _holiday_slowdown,
    "teacher_leaves": _teacher_leaves,
    "legit_move": _legit_move,
    "ownership_change": _ownership_change,
    "honest_closure": _honest_closure,
}


# ---------------------------------------------------------------------- replay and measure
def simulate(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    institutions: int,
    days: int,
    seed: int,
    events_path: str | None = None,
    start: date | None = None,
    family: str = "tune",
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Simulate a region of the family, replay it, and measure the engine on it."""
    world = World(institutions, days, seed, start, family)
    events = world.build()
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    if events_path:
        with open(events_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    out, err = io.StringIO(), io.StringIO()
    replay = Replay(sessions, settings, out, err=err, on_day=progress, default_statements=False)
    summary = replay.run(lines)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    report = measure(world, [r for r in rows if "level" in r])
    skipped = err.getvalue().splitlines()
    return {"institutions": institutions, "days": days, "seed": seed, "family": family,
            "events": summary["events"], "skipped": summary["skipped"], **report,
            "skipped_examples": skipped[:5]}  # fmt: skip


def measure(world: World, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall, false positives and lead times, overall and per archetype."""
    firsts: dict[str, tuple[date, set[str]]] = {}
    for r in rows:
        if r["level"] in HIGH and r["institution"] not in firsts:
            codes = {i["code"] for i in r["indicators"] if int(i["contribution"]) > 0}
            firsts[r["institution"]] = (date.fromisoformat(r["date"]), codes)
    per: dict[str, dict[str, Any]] = {}
    leads: list[int] = []
    for inst in world.insts:
        stats = per.setdefault(inst.archetype, {"institutions": 0, "flagged": 0, "leads": [],
                                                "early": 0})  # fmt: skip
        stats["institutions"] += 1
        seen = firsts.get(inst.label)
        if inst.archetype not in FAILING:
            stats["flagged"] += seen is not None
            continue
        lead = _lead(world, inst, seen)
        if lead is not None:
            stats["flagged"] += 1
            stats["early"] += lead >= LEAD
            stats["leads"].append(lead)
            leads.append(lead)
    out = _summary(per, leads, world, firsts)
    out["benign_high_during_shock"] = _shocked(world, rows, world.shock, 2)
    # A week after classes resume too: what the suspension leaves in the windows (14 days of
    # lessons against the timetable) is still its own.
    out["benign_high_during_suspension"] = (
        _shocked(world, rows, world.suspension, 7) if world.suspended else []
    )
    suspended = [i for i in world.insts if i.district == world.suspended]
    out["suspension"] = (
        None
        if not world.suspended
        else {
            "district": world.suspended,
            "from": (world.start + timedelta(days=world.suspension[0])).isoformat(),
            "resumed": (world.start + timedelta(days=world.suspension[1])).isoformat(),
            "institutions": len(suspended),
        }
    )
    return out


def _shocked(
    world: World, rows: list[dict[str, Any]], days: tuple[int, int], after: int
) -> list[str]:
    """Benign institutions at `high` or above on a day of a systemic event (`days`: its first
    day and the day it ended) or in the `after` days that follow."""
    first = world.start + timedelta(days=days[0])
    last = world.start + timedelta(days=days[1] + after)
    benign = {i.label for i in world.insts if i.archetype not in FAILING}
    return sorted({r["institution"] for r in rows if r["level"] in HIGH
                   and r["institution"] in benign
                   and first <= date.fromisoformat(r["date"]) <= last})  # fmt: skip


def _lead(world: World, inst: Inst, seen: tuple[date, set[str]] | None) -> int | None:
    """Days from the first `high` to the failure, if it came before it, by the failure's
    own signals; a sudden disappearance counts if caught within two days after it."""
    if seen is None or inst.fail_day is None:
        return None
    fail = world.start + timedelta(days=inst.fail_day)
    first, codes = seen
    if not codes & OWN_SIGNALS[inst.archetype]:
        return None
    lead = (fail - first).days
    limit = -2 if inst.archetype == "sudden_disappearance" else 1
    return lead if lead >= limit else None


def _summary(
    per: dict[str, dict[str, Any]],
    leads: list[int],
    world: World,
    firsts: dict[str, tuple[date, set[str]]],
) -> dict[str, Any]:
    failing = [i for i in world.insts if i.archetype in FAILING]
    benign = [i for i in world.insts if i.archetype not in FAILING]
    detected = sum(per[a]["flagged"] for a in FAILING if a in per)
    flagged = [i for i in benign if i.label in firsts]
    by_archetype = {
        a: {"institutions": s["institutions"], "flagged_high": s["flagged"],
            f"flagged_{LEAD}_days_ahead": s["early"],
            "median_lead_days": statistics.median(s["leads"]) if s["leads"] else None,
            "lead_days": sorted(s["leads"])}
        for a, s in sorted(per.items())
    }  # fmt: skip
    early = sum(per[a]["early"] for a in FAILING if a in per)
    sudden = [i for i in failing if i.archetype == "sudden_disappearance"]
    return {
        "failing": len(failing),
        "recall": round(detected / len(failing), 4) if failing else None,
        f"recall_{LEAD}_days": round(early / len(failing), 4) if failing else None,
        "false_positive_rate": round(len(flagged) / len(benign), 4) if benign else None,
        "median_lead_days": statistics.median(leads) if leads else None,
        "sudden_disappearances_caught": f"{per.get('sudden_disappearance', {}).get('flagged', 0)}"
        f" of {len(sudden)}",
        "false_positives": sorted(f"{i.label} ({i.archetype})" for i in flagged),
        "by_archetype": by_archetype,
    }
