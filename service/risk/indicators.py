"""The warning signs of DOMAIN.md §5, each a named function of an institution's facts at
`as_of`, returning its value, threshold, contribution to the score, level floor and evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from service.risk import config as cfg
from service.risk.config import dec
from service.risk.facts import Facts


@dataclass(frozen=True)
class Indicator:
    code: str
    value: str
    threshold: str
    contribution: int
    floor: str | None
    evidence: list[str] = field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "value": self.value,
            "threshold": self.threshold,
            "contribution": self.contribution,
            "floor": self.floor,
            "evidence": self.evidence[:20],
        }


@dataclass(frozen=True)
class Context:
    as_of: datetime
    region_refund_rate: dict[str, Decimal]  # median refund requests per enrollment, by region


IndicatorFn = Callable[[Facts, Context, Any], Indicator | None]


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    """Exact: thresholds are judged on this; only the reported value is rounded."""
    return a / b if b else Decimal("0")


def _shown(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def refund_failed(f: Facts, ctx: Context, c: cfg.RefundFailed) -> Indicator | None:
    n = len(f.failed_refunds)
    if n < c.threshold:
        return None
    return Indicator("refund_failed", str(n), str(c.threshold), c.weight, c.floor, f.failed_refunds)


def escrow_shortfall(f: Facts, ctx: Context, c: cfg.EscrowShortfall) -> Indicator | None:
    n = len(f.shortfall)
    if n < c.threshold:
        return None
    return Indicator("escrow_shortfall", str(n), str(c.threshold), c.weight, c.floor, f.shortfall)


def refund_overdue(f: Facts, ctx: Context, c: cfg.RefundOverdue) -> Indicator | None:
    n = len(f.overdue_refunds)
    if n < c.threshold:
        return None
    high = n >= c.high_count
    weight = c.weight + 10 * min(n - 1, 2)
    return Indicator(
        "refund_overdue",
        str(n),
        str(c.threshold),
        weight,
        c.high_floor if high else c.floor,
        f.overdue_refunds,
    )


def refund_velocity(f: Facts, ctx: Context, c: cfg.RefundVelocity) -> Indicator | None:
    recent = f.total("refund_requests", ctx.as_of, c.window_days)
    if recent < c.min_requests or f.active_enrollments == 0:
        return None
    rate = Decimal(recent) / f.active_enrollments
    own = Decimal(f.total("refund_requests", ctx.as_of, c.baseline_days, offset=c.window_days))
    own_rate = own / f.active_enrollments * c.window_days / c.baseline_days
    baseline = max(
        own_rate, ctx.region_refund_rate.get(f.region_code[:4], Decimal("0")), Decimal("0.01")
    )
    ratio = _ratio(rate, baseline)
    if ratio < dec(c.threshold):
        return None
    return Indicator("refund_velocity", _shown(ratio), str(c.threshold), c.weight, c.floor)


def prepay_surge(f: Facts, ctx: Context, c: cfg.PrepaySurge) -> Indicator | None:
    recent = f.total("deposits_amount", ctx.as_of, c.window_days)
    if recent <= dec(c.min_amount):
        return None
    trailing = f.total("deposits_amount", ctx.as_of, c.baseline_days, offset=c.window_days)
    fortnight = trailing * c.window_days / c.baseline_days
    if fortnight <= 0:  # no history to surge against (a new institution)
        return None
    ratio = _ratio(recent, fortnight)
    if ratio < dec(c.threshold):
        return None
    high = ratio >= dec(c.high_threshold)
    return Indicator(
        "prepay_surge",
        _shown(ratio),
        str(c.threshold),
        c.high_weight if high else c.weight,
        c.high_floor if high else c.floor,
    )


def deep_discount(f: Facts, ctx: Context, c: cfg.DeepDiscount) -> Indicator | None:
    paid = f.total("enrollments_paid", ctx.as_of, c.window_days)
    if paid < c.min_enrollments:
        return None
    share = _ratio(
        Decimal(f.total("enrollments_discounted", ctx.as_of, c.window_days)), Decimal(paid)
    )
    if share <= dec(c.threshold):
        return None
    return Indicator("deep_discount", _shown(share), str(c.threshold), c.weight, c.floor)


def off_platform(f: Facts, ctx: Context, c: cfg.OffPlatform) -> Indicator | None:
    evidence = f.aged_suspense + f.off_platform_complaints
    if len(evidence) < c.threshold:
        return None
    return Indicator(
        "off_platform", str(len(evidence)), str(c.threshold), c.weight, c.floor, evidence
    )


def consumption_pace(f: Facts, ctx: Context, c: cfg.ConsumptionPace) -> Indicator | None:
    n = len(f.pace_violations)
    if n < c.threshold:
        return None
    return Indicator(
        "consumption_pace", str(n), str(c.threshold), c.weight, c.floor, f.pace_violations
    )


def consumption_stall(f: Facts, ctx: Context, c: cfg.ConsumptionStall) -> Indicator | None:
    """A week and more of scheduled lessons (at least `min_sessions`) and none reported in
    the window: teaching has stopped, or the lessons are no longer reported."""
    oldest = f.oldest_recent_session
    if f.sessions_scheduled_recent < c.min_sessions or oldest is None:
        return None
    if oldest > ctx.as_of - timedelta(days=c.min_days):
        return None
    lessons = f.total("lessons_consumed", ctx.as_of, c.window_days)
    if lessons > 0:
        return None
    return Indicator("consumption_stall", str(c.window_days), str(c.threshold), c.weight, c.floor)


def complaint_surge(f: Facts, ctx: Context, c: cfg.ComplaintSurge) -> Indicator | None:
    recent = f.total("complaints", ctx.as_of, c.window_days)
    if recent < c.min_count:
        return None
    trailing = Decimal(f.total("complaints", ctx.as_of, c.baseline_days, offset=c.window_days))
    fortnight = trailing * c.window_days / c.baseline_days
    ratio = _ratio(Decimal(recent), fortnight) if fortnight > 0 else Decimal("99")
    if ratio < dec(c.threshold):
        return None
    return Indicator(
        "complaint_surge",
        _shown(ratio),
        str(c.threshold),
        c.weight,
        c.floor,
        f.recent_complaints,
    )


def statement_missing(f: Facts, ctx: Context, c: cfg.StatementMissing) -> Indicator | None:
    if not f.ever_deposited:
        return None
    since = f.last_statement_at or f.created_at
    days = (ctx.as_of - since).days
    if days < c.threshold:
        return None
    return Indicator("statement_missing", str(days), str(c.threshold), c.weight, c.floor)


def reserve_shortfall(f: Facts, ctx: Context, c: cfg.ReserveShortfall) -> Indicator | None:
    if f.supervision_mode != "reserve" or f.reserve >= f.prepaid_outstanding:
        return None
    gap = f.prepaid_outstanding - f.reserve
    return Indicator("reserve_shortfall", f"{gap:.2f}", str(c.threshold), c.weight, c.floor)


def registry_change(f: Facts, ctx: Context, c: cfg.RegistryChange) -> Indicator | None:
    n = len(f.registry_changes)
    if n < c.threshold:
        return None
    return Indicator(
        "registry_change", str(n), str(c.threshold), c.weight, c.floor, f.registry_changes
    )


INDICATORS: dict[str, IndicatorFn] = {
    fn.__name__: fn
    for fn in (
        refund_failed,
        escrow_shortfall,
        refund_overdue,
        refund_velocity,
        prepay_surge,
        deep_discount,
        off_platform,
        consumption_pace,
        consumption_stall,
        complaint_surge,
        statement_missing,
        reserve_shortfall,
        registry_change,
    )
}
