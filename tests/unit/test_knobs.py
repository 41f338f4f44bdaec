"""Every declared risk knob is read: for each, a regional override changes the outcome of its
indicator on facts where the default gives another (issue: architecture, typed risk
configuration). A knob added without a case here fails `test_every_knob_has_a_case`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from service.kit.clock import local_date
from service.policy import knobs
from service.risk.facts import Day, Facts
from service.risk.indicators import INDICATORS, Context

AS_OF = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
D = Decimal


def day(n: int) -> date:
    return local_date(AS_OF) - timedelta(days=n)


def ev(*ids: str, days_ago: float = 0.1) -> list[tuple[str, datetime]]:
    return [(i, AS_OF - timedelta(days=days_ago)) for i in ids]


def base(**over: Any) -> Facts:
    f = Facts("inst_x", "220102", "custody", AS_OF - timedelta(days=365))
    f.ever_deposited = True
    f.last_statement_at = AS_OF - timedelta(hours=12)
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
    days = {day(on_day): Day(complaints=recent)}
    if trailing:
        days[day(40)] = Day(complaints=trailing)
    return base(days=days)


def discounts(discounted: int, paid: int, share: str = "0.7", on_day: int = 1) -> Facts:
    return base(days={day(on_day): Day(enrollments_paid=paid)},
                discounted={(30, D(share)): discounted, (60, D(share)): discounted})  # fmt: skip


def stall(scheduled: int, oldest_days: float, window: int = 14) -> Facts:
    return base(stall={window: (scheduled, AS_OF - timedelta(days=oldest_days))})


WEEK = timedelta(days=7)

# A facts value on which each indicator fires with the defaults (for weight and floor).
FIRING: dict[str, Facts] = {
    "refund_failed": base(failed_refunds=ev("r")),
    "escrow_shortfall": base(shortfall=ev("b")),
    "refund_overdue": base(overdue_refunds=ev("r")),
    "refund_velocity": refunds(3),
    "prepay_surge": base(days=surge("1500", "500")),
    "deep_discount": discounts(4, 10),
    "off_platform": base(off_platform_complaints=ev("c")),
    "consumption_pace": base(pace_violations=ev("e")),
    "consumption_stall": stall(3, 7),
    "complaint_surge": complaints(3),
    "statement_missing": base(last_statement_at=AS_OF - timedelta(days=3)),
    "reserve_shortfall": base(
        supervision_mode="reserve", reserve=D("50"), prepaid_outstanding=D("100")
    ),
    "registry_change": base(registry_changes=ev("x")),
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
    ("off_platform", "threshold"): (2, base(off_platform_complaints=ev("c"))),
    ("consumption_pace", "window_days"): (60, base(pace_violations=ev("e", days_ago=40))),
    ("consumption_pace", "threshold"): (2, base(pace_violations=ev("e"))),
    ("consumption_stall", "window_days"): (21, stall(3, 7, window=21)),
    ("consumption_stall", "min_sessions"): (4, stall(3, 7)),
    ("consumption_stall", "min_days"): (10, stall(3, 7)),
    ("complaint_surge", "window_days"): (7, complaints(3, on_day=10)),
    ("complaint_surge", "baseline_days"): (30, complaints(3, trailing=6)),
    ("complaint_surge", "threshold"): ("100", complaints(3)),
    ("complaint_surge", "min_count"): (4, complaints(3)),
    ("statement_missing", "threshold"): (4, FIRING["statement_missing"]),
    ("reserve_shortfall", "threshold"): ("60", FIRING["reserve_shortfall"]),
    ("registry_change", "window_days"): (120, base(registry_changes=ev("x", days_ago=100))),
    ("registry_change", "threshold"): (2, base(registry_changes=ev("x"))),
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


def outcome(code: str, f: Facts, cfg: knobs.RiskConfig) -> Any:
    ind = INDICATORS[code](f, Context(AS_OF, {"2201": D("0.01")}), cfg)
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
