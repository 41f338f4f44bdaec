"""Every declared risk knob is read: for each, a regional override changes the outcome of its
indicator on facts where the default gives another (issue: architecture, typed risk
configuration). A knob added without a case here fails `test_every_knob_has_a_case`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from service.kit.clock import SHANGHAI, local_date
from service.policy import knobs
from service.policy.rules import BankWarnings
from service.risk.facts import Day, Facts
from service.risk.indicators import INDICATORS, Context, Peers, Sibling

AS_OF = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
D = Decimal


def day(n: int) -> date:
    return local_date(AS_OF) - timedelta(days=n)


def ev(*ids: str, days_ago: float = 0.1) -> list[tuple[str, datetime]]:
    return [(i, AS_OF - timedelta(days=days_ago)) for i in ids]


def base(**over: Any) -> Facts:
    f = Facts(
        institution_id="inst_x",
        region_code="220102",
        supervision_mode="custody",
        created_at=AS_OF - timedelta(days=365),
    )
    f.ever_deposited = True
    f.last_statement_at = AS_OF - timedelta(hours=12)
    f.last_statement_date = local_date(AS_OF)
    for k, v in over.items():
        setattr(f, k, v)
    return f


def surge(recent: str, trailing: str, window: int = 14, baseline: int = 90) -> dict[date, Day]:
    days = {day(n): Day(deposits_amount=D(recent)) for n in range(window)}
    days |= {day(n): Day(deposits_amount=D(trailing)) for n in range(window, window + baseline)}
    return days


def refunds(recent: int, trailing: int = 0, on_day: int = 2) -> Facts:
    days = {day(on_day): Day(refund_requests=recent)}
    if trailing:
        days[day(50)] = Day(refund_requests=trailing)
    return base(days=days, active_enrollments=100)


def complaints(recent: int, trailing: int = 0, on_day: int = 1) -> Facts:
    """`recent` parents' complaints `on_day` days before as_of's day, `trailing` 40 days."""
    at = lambda n: datetime.combine(day(n), time(12), tzinfo=SHANGHAI)  # noqa: E731
    dated = [(f"cmp_r{i}", at(on_day)) for i in range(recent)]
    dated += [(f"cmp_t{i}", at(40)) for i in range(trailing)]
    return base(complaints=dated)


def discounts(discounted: int, paid: int, share: str = "0.7", on_day: int = 1) -> Facts:
    return base(days={day(on_day): Day(enrollments_paid=paid)},
                discounted={(30, D(share)): discounted, (60, D(share)): discounted})  # fmt: skip


def stall(scheduled: int, oldest_days: float, window: int = 14) -> Facts:
    return base(stall={window: (scheduled, AS_OF - timedelta(days=oldest_days))})


def late_refunds(recent: int) -> Facts:
    """Refund requests, one of them answered late."""
    f = refunds(recent)
    f.unprompt_requests = ev("r1")
    return f


def contested(disputed: int, answered: int, days_ago: float = 0.1) -> Facts:
    ids = [f"r{n}" for n in range(answered)]
    return base(refund_disputes=ev(*ids[:disputed], days_ago=days_ago),
                refund_answers=ev(*ids, days_ago=days_ago))  # fmt: skip


def lessons_disputed(n: int, reported: int, days_ago: int = 1, each: int = 1) -> Facts:
    at = AS_OF - timedelta(days=days_ago)
    return base(lesson_disputes=[(f"c{i}", at, each) for i in range(n)],
                days={day(days_ago): Day(lessons_consumed=reported)})  # fmt: skip


def disputed_in_waves() -> Facts:
    """40 lessons reported a week for four weeks; the last two weeks' reports disputed in
    waves (8 parents, 2 lessons each, a week): 40% of the fortnight's, 20% of the month's."""
    waves = [(f"c{w}{i}", AS_OF - timedelta(days=2 + 7 * w), 2) for w in (0, 1) for i in range(8)]
    days = {day(n): Day(lessons_consumed=40) for n in (1, 8, 15, 22)}
    return base(lesson_disputes=waves, days=days)


def asked_off_platform_falling() -> Facts:
    """One parent asked to pay off the platform, new money at a tenth of its pace."""
    f = renewal("100", "1000")
    f.off_platform_complaints = ev("c")
    return f


def ahead(share: str) -> Facts:
    f = base(days=surge("1500", "500"))
    f.ahead = {(14, 45): (D("1000"), D("1000") * D(share))}
    return f


def silent_since(last: date) -> Facts:
    return base(last_statement_date=last)


def closed(days_ago: int, owed: str = "100") -> Facts:
    return base(closing_on=local_date(AS_OF) - timedelta(days=days_ago),
                closure_announced_at=AS_OF - timedelta(days=days_ago + 30),
                prepaid_outstanding=D(owed))  # fmt: skip


def latency(
    recent: list[int], past: tuple[int, ...] | list[int] = (), days_ago: float = 1
) -> Facts:
    """Refunds answered in `recent` working days `days_ago` days back, `past` 50 days back."""
    dated = [(f"r{i}", AS_OF - timedelta(days=days_ago), n) for i, n in enumerate(recent)]
    dated += [(f"p{i}", AS_OF - timedelta(days=50), n) for i, n in enumerate(past)]
    return base(answer_latency=dated)


def trend(
    disputed: int, answered: int, past: tuple[int, int] = (0, 5), days_ago: float = 1
) -> Facts:
    """`disputed` of `answered` refund answers `days_ago` back; `past` (disputed, answered)
    50 days back."""
    now = [f"r{i}" for i in range(answered)]
    then = [f"p{i}" for i in range(past[1])]
    return base(
        refund_answers=ev(*now, days_ago=days_ago) + ev(*then, days_ago=50),
        refund_disputes=ev(*now[:disputed], days_ago=days_ago) + ev(*then[: past[0]], days_ago=50),
    )


def renewal(recent: str, before: str) -> Facts:
    days = {day(n): Day(deposits_amount=D(recent)) for n in range(28)}
    days |= {day(n): Day(deposits_amount=D(before)) for n in range(28, 84)}
    return base(days=days)


def bleeding() -> Facts:
    """New money falling and refunds answered later and later: two trends of a slow bleed."""
    f = renewal("100", "1000")
    f.answer_latency = latency([4, 4, 4, 4], [1, 1, 1]).answer_latency
    return f


def young(long: bool = False, ahead_share: str = "0.1", units: int = 1) -> Facts:
    """A school licensed 60 days ago: deeply discounted (one sign), its packages long or not,
    and as much of its money for sessions far ahead."""
    f = discounts(4, 10)
    f.created_at = AS_OF - timedelta(days=60)
    f.packages = {30: (10, 600 if long else 200), 60: (10, 600)}
    share = "0.5" if units >= 3 else ahead_share
    f.ahead = {(14, 45): (D("1000"), D("1000") * D(share))}
    if units >= 3:
        f.packages = {30: (10, 600)}
    return f


def delivered(lessons: int, scheduled: int, before: int = 40, region: str = "220102") -> Facts:
    """`lessons` reported in the window against `scheduled`; `before` reported in the 28 days
    before it (the timetable the school has been keeping)."""
    days = {day(1): Day(lessons_consumed=lessons), day(20): Day(lessons_consumed=before)}
    return base(scheduled={(14, 7): scheduled}, days=days, region_code=region)


def complained(f: Facts, days_ago: float, n: int = 1) -> Facts:
    """`f` with `n` parents complaining `days_ago` that teaching stopped."""
    f.teaching_complaints = ev(*[f"cmp_t{i}" for i in range(n)], days_ago=days_ago)
    return f


def sibling(own: int = 0) -> Facts:
    return base(sponsor="S", own_signs=own)


WEEK = timedelta(days=7)

# A facts value on which each indicator fires with the defaults (for weight and floor).
FIRING: dict[str, Facts] = {
    "refund_failed": base(failed_refunds=ev("r")),
    "escrow_shortfall": base(shortfall=ev("b")),
    "refund_overdue": base(overdue_refunds=ev("r")),
    "refund_velocity": late_refunds(3),
    "refund_disputes": contested(4, 4),
    "lesson_disputes": lessons_disputed(3, 20),
    "prepay_surge": base(days=surge("1500", "500")),
    "deep_discount": discounts(4, 10),
    "off_platform": base(off_platform_complaints=ev("c")),
    "consumption_pace": base(pace_violations=ev("e")),
    "consumption_stall": stall(3, 7),
    "complaint_surge": complaints(3),
    # 2026-11-22 is a Sunday: Tuesday to Friday are the working days since Monday's.
    "statement_missing": silent_since(date(2026, 11, 16)),
    "reserve_shortfall": base(
        supervision_mode="reserve", reserve=D("50"), prepaid_outstanding=D("100")
    ),
    "registry_change": base(registry_changes=ev("x")),
    "closure_default": closed(20),
    "bank_warning": base(
        bank_warnings=BankWarnings(daily_withdrawals=D("100")),
        withdrawals=[("ins", AS_OF - timedelta(minutes=5), D("150"))],
    ),
    "chain_sibling": sibling(),
    "refund_latency": latency([2, 3, 2, 3], [1, 1, 1]),
    "dispute_trend": trend(2, 5),  # 40%: the ordinary weight (half or more is the strong)
    "renewal_decline": renewal("100", "1000"),
    "young_school": young(),
    "delivery_share": delivered(20, 40),
}

# (indicator, knob): the override, and facts on which it changes the outcome.
Case = tuple[Any, Facts]
SPECIFIC: dict[tuple[str, str], Case] = {
    ("refund_failed", "window_days"): (120, base(failed_refunds=ev("r", days_ago=100))),
    ("refund_failed", "threshold"): (2, base(failed_refunds=ev("r"))),
    ("escrow_shortfall", "window_days"): (120, base(shortfall=ev("b", days_ago=100))),
    ("escrow_shortfall", "threshold"): (2, base(shortfall=ev("b"))),
    ("refund_overdue", "window_days"): (120, base(overdue_refunds=ev("r", days_ago=100))),
    ("refund_overdue", "threshold"): (2, base(overdue_refunds=ev("r"))),
    ("refund_overdue", "high_count"): (2, base(overdue_refunds=ev("r", "s"))),
    ("refund_overdue", "high_floor"): ("critical", base(overdue_refunds=ev("r", "s", "t"))),
    ("refund_velocity", "window_days"): (7, refunds(3, on_day=10)),
    ("refund_velocity", "baseline_days"): (30, refunds(3, trailing=45)),
    ("refund_velocity", "threshold"): ("4", refunds(3)),
    ("refund_velocity", "min_requests"): (4, refunds(3)),
    ("refund_velocity", "strong_threshold"): ("3", late_refunds(3)),
    ("refund_velocity", "strong_weight"): (40, late_refunds(6)),
    ("refund_velocity", "prompt_weight"): (5, refunds(3)),
    ("refund_velocity", "prompt_share"): ("0.4", late_refunds(3)),
    ("refund_disputes", "window_days"): (60, contested(4, 4, days_ago=40)),
    ("refund_disputes", "min_count"): (5, contested(4, 4)),
    ("refund_disputes", "threshold"): ("0.8", contested(4, 6)),
    ("refund_disputes", "strong_count"): (4, contested(4, 4)),
    ("refund_disputes", "strong_floor"): ("critical", contested(8, 8)),
    ("lesson_disputes", "window_days"): (60, lessons_disputed(3, 20, days_ago=40)),
    ("lesson_disputes", "min_count"): (4, lessons_disputed(3, 20)),
    ("lesson_disputes", "min_lessons"): (40, lessons_disputed(3, 20)),
    ("lesson_disputes", "threshold"): ("0.2", lessons_disputed(3, 20)),
    ("lesson_disputes", "strong_threshold"): ("0.2", lessons_disputed(6, 20)),
    ("lesson_disputes", "strong_count"): (3, lessons_disputed(3, 20, each=4)),
    ("lesson_disputes", "strong_floor"): ("critical", lessons_disputed(6, 20, each=2)),
    ("lesson_disputes", "recent_days"): (30, disputed_in_waves()),
    ("prepay_surge", "min_history_days"): (400, base(days=surge("1500", "500"))),
    ("prepay_surge", "min_peers"): (3, base(days=surge("1500", "500"))),
    ("prepay_surge", "ahead_days"): (30, ahead("0.6")),
    ("prepay_surge", "ahead_share"): ("0.7", ahead("0.6")),
    ("prepay_surge", "ahead_weight"): (20, ahead("0.6")),
    ("prepay_surge", "window_days"): (7, base(days=surge("1500", "500"))),
    ("prepay_surge", "baseline_days"): (
        30,
        base(days=surge("1500", "500", baseline=30) | {day(60): Day(deposits_amount=D("90000"))}),
    ),
    ("prepay_surge", "threshold"): ("4", base(days=surge("1500", "500"))),
    ("prepay_surge", "high_threshold"): ("3", base(days=surge("1500", "500"))),
    ("prepay_surge", "min_amount"): ("30000", base(days=surge("1500", "500"))),
    ("prepay_surge", "high_weight"): (40, base(days=surge("2500", "500"))),
    ("prepay_surge", "high_floor"): ("critical", base(days=surge("2500", "500"))),
    ("deep_discount", "window_days"): (60, discounts(4, 10, on_day=40)),
    ("deep_discount", "price_share"): ("0.5", discounts(4, 10)),
    ("deep_discount", "threshold"): ("0.5", discounts(4, 10)),
    ("deep_discount", "min_enrollments"): (11, discounts(4, 10)),
    ("off_platform", "suspense_days"): (3, base(suspense=ev("d", days_ago=5))),
    ("off_platform", "window_days"): (60, base(off_platform_complaints=ev("c", days_ago=40))),
    ("off_platform", "threshold"): (3, base(off_platform_complaints=ev("c"))),
    ("off_platform", "complaint_units"): (1, base(off_platform_complaints=ev("c", "d"))),
    ("off_platform", "high_units"): (2, base(off_platform_complaints=ev("c"))),
    ("off_platform", "high_floor"): ("critical", base(off_platform_complaints=ev("c", "d"))),
    ("off_platform", "falling_units"): (3, asked_off_platform_falling()),
    ("off_platform", "falling_floor"): ("critical", asked_off_platform_falling()),
    ("off_platform", "falling_pace"): ("0.05", asked_off_platform_falling()),
    ("consumption_pace", "window_days"): (60, base(pace_violations=ev("e", days_ago=40))),
    ("consumption_pace", "threshold"): (2, base(pace_violations=ev("e"))),
    ("consumption_pace", "high_count"): (1, base(pace_violations=ev("e"))),
    ("consumption_pace", "high_weight"): (50, base(pace_violations=ev("e", "f", "g"))),
    ("consumption_pace", "high_floor"): ("critical", base(pace_violations=ev("e", "f", "g"))),
    ("consumption_stall", "window_days"): (21, stall(3, 7, window=21)),
    ("consumption_stall", "min_sessions"): (4, stall(3, 7)),
    ("consumption_stall", "min_days"): (10, stall(3, 7)),
    ("complaint_surge", "window_days"): (7, complaints(3, on_day=10)),
    ("complaint_surge", "baseline_days"): (30, complaints(3, trailing=6)),
    ("complaint_surge", "threshold"): ("100", complaints(3)),
    ("complaint_surge", "min_count"): (4, complaints(3)),
    ("complaint_surge", "strong_count"): (3, complaints(3)),
    ("complaint_surge", "strong_weight"): (40, complaints(8)),
    ("statement_missing", "threshold"): (5, FIRING["statement_missing"]),
    ("statement_missing", "high_days"): (4, FIRING["statement_missing"]),
    ("statement_missing", "step_weight"): (10, FIRING["statement_missing"]),
    ("statement_missing", "max_weight"): (11, FIRING["statement_missing"]),
    ("statement_missing", "high_floor"): ("critical", silent_since(date(2026, 11, 2))),
    ("reserve_shortfall", "threshold"): ("60", FIRING["reserve_shortfall"]),
    ("registry_change", "window_days"): (120, base(registry_changes=ev("x", days_ago=100))),
    ("registry_change", "threshold"): (2, base(registry_changes=ev("x"))),
    ("registry_change", "legal_person_units"): (
        3,
        base(registry_changes=ev("x"), legal_person_changes=ev("x")),
    ),
    ("registry_change", "high_units"): (1, base(registry_changes=ev("x"))),
    ("registry_change", "max_weight"): (5, base(registry_changes=ev("x"))),
    ("registry_change", "high_floor"): (
        "critical",
        base(registry_changes=ev("x", "y", "z", "w", "v")),
    ),
    ("closure_default", "grace_days"): (30, closed(20)),
    ("closure_default", "threshold"): ("200", closed(20)),
    ("chain_sibling", "own_min"): (0, sibling()),
    ("chain_sibling", "signs_weight"): (50, sibling(own=20)),
    ("refund_latency", "window_days"): (60, latency([4, 4, 4, 4], days_ago=40)),
    ("refund_latency", "baseline_days"): (10, latency([3, 3, 3, 3], [3, 3, 3])),
    ("refund_latency", "habit_share"): ("0.5", latency([4, 4, 4, 4], [3, 3, 3])),
    ("dispute_trend", "habit_share"): ("0.3", trend(2, 4, past=(1, 4))),
    ("refund_latency", "min_answers"): (5, latency([4, 4, 4, 4])),
    ("refund_latency", "min_peers"): (6, latency([4, 4, 4, 4])),
    ("refund_latency", "threshold"): ("5", latency([4, 4, 4, 4])),
    ("refund_latency", "min_increase"): ("3.5", latency([4, 4, 4, 4])),
    ("refund_latency", "strong_days"): ("5", latency([4, 4, 4, 4])),
    ("refund_latency", "strong_weight"): (40, latency([4, 4, 4, 4])),
    ("dispute_trend", "window_days"): (60, trend(2, 4, past=(0, 0), days_ago=40)),
    ("dispute_trend", "baseline_days"): (10, trend(2, 4, past=(2, 4))),
    ("dispute_trend", "min_count"): (3, trend(2, 4)),
    ("dispute_trend", "min_share"): ("0.6", trend(2, 4)),
    ("dispute_trend", "base_share"): ("0.3", trend(2, 4)),
    ("dispute_trend", "threshold"): ("6", trend(2, 4)),
    ("dispute_trend", "strong_share"): ("0.4", trend(2, 5)),
    ("dispute_trend", "strong_weight"): (40, trend(2, 4)),
    ("chain_sibling", "soft_weight"): (0, base(sponsor="U")),
    ("chain_sibling", "soft_signs_weight"): (30, base(sponsor="U", own_signs=25)),
    ("renewal_decline", "window_days"): (14, renewal("100", "1000")),
    ("renewal_decline", "baseline_days"): (84, renewal("100", "1000")),
    ("renewal_decline", "min_peers"): (6, renewal("100", "1000")),
    ("renewal_decline", "min_amount"): ("60000", renewal("100", "1000")),
    ("renewal_decline", "threshold"): ("0.05", renewal("100", "1000")),
    ("renewal_decline", "peer_floor"): ("2", renewal("100", "1000")),
    ("renewal_decline", "trend_weight"): (40, bleeding()),
    ("young_school", "young_days"): (30, young()),
    ("young_school", "window_days"): (60, young()),
    ("young_school", "min_enrollments"): (11, young(long=True)),
    ("young_school", "min_peers"): (6, young(long=True)),
    ("young_school", "ahead_share"): ("0.05", young()),
    ("young_school", "long_ratio"): ("4", young(long=True)),
    ("young_school", "high_units"): (1, young()),
    ("young_school", "high_floor"): ("critical", young(units=3)),
    ("delivery_share", "window_days"): (7, delivered(20, 40)),
    ("delivery_share", "lag_days"): (0, delivered(20, 40)),
    ("delivery_share", "min_sessions"): (50, delivered(20, 40)),
    ("delivery_share", "min_peers"): (6, delivered(20, 40)),
    ("delivery_share", "threshold"): ("0.4", delivered(20, 40)),
    ("delivery_share", "strong_threshold"): ("0.6", delivered(20, 40)),
    ("delivery_share", "peer_floor"): ("1.5", delivered(20, 40)),
    ("delivery_share", "strong_weight"): (50, delivered(10, 40)),
    ("delivery_share", "strong_floor"): ("critical", delivered(10, 40)),
    ("delivery_share", "strong_min_sessions"): (50, delivered(10, 40)),
    ("delivery_share", "baseline_days"): (5, delivered(20, 40)),
    ("delivery_share", "min_reported"): (50, delivered(20, 40)),
    ("delivery_share", "corroborating"): (1, complained(delivered(20, 40), days_ago=3)),
    ("delivery_share", "complaint_days"): (10, complained(delivered(20, 40), days_ago=20, n=2)),
    ("delivery_share", "normal_share"): ("1.5", delivered(20, 40, region="220109")),
    ("statement_missing", "systemic_schools"): (
        6,
        base(bank_id="bank_s", last_statement_date=day(5)),
    ),
}
WEIGHT_AND_FLOOR: dict[str, Any] = {"weight": 99, "floor": "critical"}


def cases() -> list[tuple[str, str, Any, Facts]]:
    out = []
    for code, model in knobs.MODELS.items():
        for knob in model.model_fields:
            if (code, knob) in SPECIFIC:
                value, f = SPECIFIC[(code, knob)]
            elif knob in WEIGHT_AND_FLOOR:
                value, f = WEIGHT_AND_FLOOR[knob], FIRING[code]
                if knob == "floor" and knobs.DEFAULTS[code].floor == "critical":
                    value = "high"
            else:
                continue
            out.append((code, knob, value, f))
    return out


# Three peers of the city surging twice over: fewer than the default `min_peers` count.
PEERS = {("2201", "subject"): Peers(median=D("2"), count=3)}


# Five peers of the city each: what the trends, the young and delivery are judged beside.
FIVE: dict[str, Any] = {
    "peer_latency": {"2201": Peers(median=D("1"), count=5)},
    "peer_renewal": {("2201", "subject"): Peers(median=D("1"), count=5)},
    "peer_package": {"2201": Peers(median=D("20"), count=5)},
    "peer_delivery": {"2201": Peers(median=D("1"), count=5)},
    "silent_banks": {("bank_s", day(5)): 5},  # a bank silent on five accounts since then
    "district_delivery": {"220109": Peers(median=D("0.95"), count=5)},  # one district's
    "chain": {
        "S": [Sibling(institution_id="inst_y", codes=("escrow_shortfall",), level="critical")],
        "U": [
            Sibling(institution_id="inst_z", codes=("refund_latency",), level="high", hard=False)
        ],
    },
}


def outcome(code: str, f: Facts, cfg: knobs.RiskConfig) -> Any:
    context = Context(as_of=AS_OF, region_refund_rate={"2201": D("0.01")}, peer_surge=PEERS, **FIVE)
    ind = INDICATORS[code](f, context, cfg)
    return None if ind is None else (ind.value, ind.contribution, ind.floor, ind.evidence)


def test_every_knob_has_a_case() -> None:
    covered = {(c, k) for c, k, _, _ in cases()}
    declared = {(c, k) for c, m in knobs.MODELS.items() for k in m.model_fields}
    assert declared - covered == set()


@pytest.mark.parametrize(("code", "knob", "value", "facts"), cases(),
                         ids=lambda x: x if isinstance(x, str) else "")  # fmt: skip
def test_a_regional_override_of_the_knob_changes_the_outcome(
    code: str, knob: str, value: Any, facts: Facts
) -> None:
    overrides = knobs.validate_overrides({code: {knob: value}})
    default, regional = knobs.RiskConfig(), knobs.merged(overrides)
    assert getattr(getattr(regional, code), knob) != getattr(getattr(default, code), knob)
    assert outcome(code, facts, default) != outcome(code, facts, regional)
