"""Each risk indicator firing and not firing at its threshold, and the level floors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from service.kit.clock import local_date
from service.policy import knobs
from service.policy.knobs import RiskConfig
from service.risk.facts import Day, Facts
from service.risk.indicators import INDICATORS, Context
from service.risk.scoring import judge, level_of
from service.risk.sweep import evaluate

AS_OF = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
CFG = RiskConfig()
D = Decimal


def facts(**over) -> Facts:
    f = Facts("inst_x", "220102", "custody", AS_OF - timedelta(days=365))
    f.ever_deposited = True
    f.last_statement_at = AS_OF - timedelta(hours=12)
    for k, v in over.items():
        setattr(f, k, v)
    return f


def ev(*ids: str, ago: timedelta = timedelta(hours=1)) -> list[tuple[str, datetime]]:
    """Evidence dated `ago` before as_of."""
    return [(i, AS_OF - ago) for i in ids]


def ev_aged(*ids: str) -> list[tuple[str, datetime]]:
    """Unmatched cash received eight days before as_of (past the 7-day mark)."""
    return ev(*ids, ago=timedelta(days=8))


def ctx(rates: dict[str, Decimal] | None = None) -> Context:
    return Context(AS_OF, rates or {})


def day(n: int) -> date:
    """The Beijing day n days before as_of's day."""
    return local_date(AS_OF) - timedelta(days=n)


def fired(code: str, f: Facts, c: Context | None = None) -> bool:
    return INDICATORS[code](f, c or ctx(), CFG) is not None


def test_quiet_institution_is_low() -> None:
    v = evaluate(facts(), ctx(), CFG)
    assert (v.score, v.level, v.indicators) == (0, "low", [])


def test_refund_failed_is_critical() -> None:
    assert not fired("refund_failed", facts())
    v = evaluate(facts(failed_refunds=ev("ref_1")), ctx(), CFG)
    assert v.level == "critical" and v.indicators[0].evidence == ["ref_1"]


def test_escrow_shortfall_is_critical() -> None:
    assert not fired("escrow_shortfall", facts())
    assert evaluate(facts(shortfall=ev("brk_1")), ctx(), CFG).level == "critical"


def test_refund_overdue_floors() -> None:
    assert not fired("refund_overdue", facts())
    assert evaluate(facts(overdue_refunds=ev("r1")), ctx(), CFG).level == "medium"
    assert evaluate(facts(overdue_refunds=ev("r1", "r2")), ctx(), CFG).level == "medium"
    assert evaluate(facts(overdue_refunds=ev("r1", "r2", "r3")), ctx(), CFG).level == "high"


def deposits(recent_per_day: str, trailing_per_day: str) -> dict[date, Day]:
    days = {day(n): Day(deposits_amount=D(recent_per_day)) for n in range(14)}
    days |= {day(n): Day(deposits_amount=D(trailing_per_day)) for n in range(14, 104)}
    return days


def test_prepay_surge_thresholds() -> None:
    # Trailing fortnight: 14 × 500 = 7,000; recent 14 × 1,500 = 21,000 → exactly 3× and > 20,000.
    assert (
        INDICATORS["prepay_surge"](facts(days=deposits("1500", "500")), ctx(), CFG).value == "3.00"
    )
    assert evaluate(facts(days=deposits("1500", "500")), ctx(), CFG).level == "medium"
    assert not fired("prepay_surge", facts(days=deposits("1499", "500")))  # 2.998×
    assert not fired("prepay_surge", facts(days=deposits("1400", "400")))  # 3.5× but only 19,600
    assert evaluate(facts(days=deposits("2500", "500")), ctx(), CFG).level == "high"  # 5×


def test_deep_discount() -> None:
    def with_share(discounted: int, paid: int) -> Facts:
        return facts(
            days={day(1): Day(enrollments_paid=paid)},
            discounted={(30, Decimal("0.7")): discounted},
        )

    assert not fired("deep_discount", with_share(3, 10))  # 30% is not over 30%
    assert fired("deep_discount", with_share(4, 10))
    assert not fired("deep_discount", with_share(4, 4))  # too few enrollments to judge


def test_off_platform() -> None:
    assert not fired("off_platform", facts())
    assert evaluate(facts(suspense=ev_aged("dep_1")), ctx(), CFG).level == "high"
    assert evaluate(facts(off_platform_complaints=ev("cmp_1")), ctx(), CFG).level == "high"


def test_consumption_pace() -> None:
    assert not fired("consumption_pace", facts())
    assert evaluate(facts(pace_violations=ev("enr_1")), ctx(), CFG).level == "high"


def test_consumption_stall() -> None:
    week_ago = AS_OF - timedelta(days=7)
    assert not fired("consumption_stall", facts(stall={14: (0, None)}))
    assert fired("consumption_stall", facts(stall={14: (3, week_ago)}))
    assert not fired("consumption_stall", facts(stall={14: (2, week_ago)}))
    assert not fired(
        "consumption_stall",
        facts(stall={14: (5, week_ago + timedelta(minutes=1))}),
    )
    assert not fired(
        "consumption_stall",
        facts(
            stall={14: (5, week_ago)},
            days={day(13): Day(lessons_consumed=1)},
        ),
    )
    assert fired(
        "consumption_stall",
        facts(
            stall={14: (5, week_ago)},
            days={day(14): Day(lessons_consumed=1)},
        ),
    )


def test_complaint_surge() -> None:
    def complaints(recent: int, trailing: int) -> Facts:
        days = {day(1): Day(complaints=recent)}
        if trailing:
            days[day(40)] = Day(complaints=trailing)
        return facts(days=days)

    assert not fired("complaint_surge", complaints(2, 0))  # fewer than 3
    assert fired("complaint_surge", complaints(3, 0))
    # Baseline: 6 in 90 days → 0.93 per fortnight; 3 recent is 3.2×.
    assert fired("complaint_surge", complaints(3, 6))
    assert not fired("complaint_surge", complaints(3, 7))  # 7 → 1.09 per fortnight, 2.75×


def test_statement_missing() -> None:
    assert not fired(
        "statement_missing", facts(last_statement_at=AS_OF - timedelta(days=2, hours=23))
    )
    assert fired("statement_missing", facts(last_statement_at=AS_OF - timedelta(days=3)))
    assert not fired("statement_missing", facts(last_statement_at=None, ever_deposited=False))


def test_reserve_shortfall() -> None:
    assert not fired(
        "reserve_shortfall",
        facts(supervision_mode="reserve", reserve=D("100"), prepaid_outstanding=D("100")),
    )
    assert (
        evaluate(
            facts(supervision_mode="reserve", reserve=D("99.99"), prepaid_outstanding=D("100")),
            ctx(),
            CFG,
        ).level
        == "high"
    )
    assert not fired(
        "reserve_shortfall", facts(reserve=D("0"), prepaid_outstanding=D("100"))
    )  # custody mode


def test_refund_velocity() -> None:
    def requests(recent: int, trailing: int, enrollments: int = 100) -> Facts:
        days = {day(2): Day(refund_requests=recent)}
        if trailing:
            days[day(50)] = Day(refund_requests=trailing)
        return facts(days=days, active_enrollments=enrollments)

    rates = {"2201": D("0.01")}  # region median: 1 request per 100 enrollments a fortnight
    assert fired("refund_velocity", requests(3, 0), ctx(rates))  # 0.03 vs 0.01 → 3×
    assert not fired("refund_velocity", requests(2, 0), ctx(rates))  # fewer than the minimum
    assert not fired("refund_velocity", requests(3, 0), ctx({"2201": D("0.0101")}))
    # Its own history is the baseline when higher: 45 in 90 days → 7 a fortnight.
    assert not fired("refund_velocity", requests(10, 45), ctx(rates))


def test_registry_change_adds_weight_only() -> None:
    v = evaluate(facts(registry_changes=ev("chg_1")), ctx(), CFG)
    assert v.score == 10 and v.level == "low"


def test_score_edges_and_cap() -> None:
    assert [level_of(s) for s in (0, 24, 25, 49, 50, 74, 75, 100)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
        "critical",
        "critical",
    ]
    v = evaluate(
        facts(failed_refunds=ev("a"), shortfall=ev("b"), pace_violations=ev("c")), ctx(), CFG
    )
    assert v.score == 100 and v.level == "critical"


def test_thresholds_are_configurable() -> None:
    strict = knobs.merged({"statement_missing": {"threshold": 1}})
    f = facts(last_statement_at=AS_OF - timedelta(days=1))
    assert INDICATORS["statement_missing"](f, ctx(), strict) is not None
    assert INDICATORS["statement_missing"](f, ctx(), CFG) is None


@pytest.mark.parametrize("code", list(knobs.DEFAULTS))
def test_every_domain_indicator_exists(code: str) -> None:
    assert code in INDICATORS


def test_judge_sorts_by_contribution() -> None:
    v = judge(
        [
            i
            for i in (
                INDICATORS["registry_change"](facts(registry_changes=ev("x")), ctx(), CFG),
                INDICATORS["refund_failed"](facts(failed_refunds=ev("y")), ctx(), CFG),
            )
            if i
        ]
    )
    assert [i.code for i in v.indicators] == ["refund_failed", "registry_change"]


def test_prepay_surge_needs_history() -> None:
    assert not fired("prepay_surge", facts(days={day(1): Day(deposits_amount=D("90000"))}))
