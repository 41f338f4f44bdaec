"""The warning signs of DOMAIN.md §5, each a named function of an institution's facts at
`as_of` and its region's knobs (`service.policy.knobs`), returning its value, threshold,
contribution to the score, level floor and evidence. Every window and threshold comes from the
knobs: the facts carry dated evidence over the longest span any region reads, and each
indicator keeps what falls in its own window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from service.policy import knobs as k
from service.risk.facts import Dated, Facts


@dataclass(frozen=True)
class Indicator:
    code: str
    value: str
    threshold: str
    contribution: int
    floor: str | None
    evidence: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """As kept with the evaluation and the alert (at most 20 pieces of evidence)."""
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


IndicatorFn = Callable[[Facts, Context, k.RiskConfig], Indicator | None]


def within(evidence: list[Dated], as_of: datetime, days: int) -> list[str]:
    """The evidence dated in the `days` before as_of."""
    since = as_of - timedelta(days=days)
    return list(dict.fromkeys(i for i, at in evidence if since < at <= as_of))


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    """Exact: thresholds are judged on this; only the reported value is rounded."""
    return a / b if b else Decimal("0")


def _shown(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _counted(code: str, found: list[str], c: Any) -> Indicator | None:
    """An indicator that fires on `threshold` or more pieces of evidence."""
    if len(found) < c.threshold:
        return None
    return Indicator(code, str(len(found)), str(c.threshold), c.weight, c.floor, found)


def refund_failed(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.refund_failed
    return _counted("refund_failed", within(f.failed_refunds, ctx.as_of, c.window_days), c)


def escrow_shortfall(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.escrow_shortfall
    return _counted("escrow_shortfall", within(f.shortfall, ctx.as_of, c.window_days), c)


def refund_overdue(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.refund_overdue
    found = within(f.overdue_refunds, ctx.as_of, c.window_days)
    n = len(found)
    if n < c.threshold:
        return None
    floor = c.high_floor if n >= c.high_count else c.floor
    weight = c.weight + 10 * min(n - 1, 2)
    return Indicator("refund_overdue", str(n), str(c.threshold), weight, floor, found)


def refund_velocity(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.refund_velocity
    recent = f.total("refund_requests", ctx.as_of, c.window_days)
    if recent < c.min_requests or f.active_enrollments == 0:
        return None
    rate = Decimal(recent) / f.active_enrollments
    own = Decimal(f.total("refund_requests", ctx.as_of, c.baseline_days, offset=c.window_days))
    own_rate = own / f.active_enrollments * c.window_days / c.baseline_days
    region = ctx.region_refund_rate.get(f.region_code[:4], Decimal("0"))
    ratio = _ratio(rate, max(own_rate, region, Decimal("0.01")))
    if ratio < c.threshold:
        return None
    return Indicator("refund_velocity", _shown(ratio), str(c.threshold), c.weight, c.floor)


def prepay_surge(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.prepay_surge
    recent = f.total("deposits_amount", ctx.as_of, c.window_days)
    if recent <= c.min_amount:
        return None
    trailing = f.total("deposits_amount", ctx.as_of, c.baseline_days, offset=c.window_days)
    fortnight = trailing * c.window_days / c.baseline_days
    if fortnight <= 0:  # no history to surge against (a new institution)
        return None
    ratio = _ratio(recent, fortnight)
    if ratio < c.threshold:
        return None
    high = ratio >= c.high_threshold
    return Indicator(
        "prepay_surge",
        _shown(ratio),
        str(c.threshold),
        c.high_weight if high else c.weight,
        c.high_floor if high else c.floor,
    )


def deep_discount(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.deep_discount
    paid = f.total("enrollments_paid", ctx.as_of, c.window_days)
    if paid < c.min_enrollments:
        return None
    share = _ratio(Decimal(f.discounted.get((c.window_days, c.price_share), 0)), Decimal(paid))
    if share <= c.threshold:
        return None
    return Indicator("deep_discount", _shown(share), str(c.threshold), c.weight, c.floor)


def off_platform(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Cash unmatched for `suspense_days`, or parents asked to pay off the platform."""
    c = cfg.off_platform
    aged = ctx.as_of - timedelta(days=c.suspense_days)
    found = [i for i, at in f.suspense if at <= aged]
    found += within(f.off_platform_complaints, ctx.as_of, c.window_days)
    return _counted("off_platform", found, c)


def consumption_pace(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.consumption_pace
    return _counted("consumption_pace", within(f.pace_violations, ctx.as_of, c.window_days), c)


def consumption_stall(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """A week and more of scheduled lessons (at least `min_sessions`) and none reported in
    the window: teaching has stopped, or the lessons are no longer reported."""
    c = cfg.consumption_stall
    scheduled, oldest = f.stall.get(c.window_days, (0, None))
    if scheduled < c.min_sessions or oldest is None:
        return None
    if oldest > ctx.as_of - timedelta(days=c.min_days):
        return None
    if f.total("lessons_consumed", ctx.as_of, c.window_days) > 0:
        return None
    days = str(c.window_days)
    return Indicator("consumption_stall", days, days, c.weight, c.floor)


def complaint_surge(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.complaint_surge
    recent = f.total("complaints", ctx.as_of, c.window_days)
    if recent < c.min_count:
        return None
    trailing = Decimal(f.total("complaints", ctx.as_of, c.baseline_days, offset=c.window_days))
    fortnight = trailing * c.window_days / c.baseline_days
    ratio = _ratio(Decimal(recent), fortnight) if fortnight > 0 else Decimal("99")
    if ratio < c.threshold:
        return None
    found = within(f.complaints, ctx.as_of, c.window_days)
    return Indicator("complaint_surge", _shown(ratio), str(c.threshold), c.weight, c.floor, found)


def statement_missing(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.statement_missing
    if not f.ever_deposited:
        return None
    days = (ctx.as_of - (f.last_statement_at or f.created_at)).days
    if days < c.threshold:
        return None
    return Indicator("statement_missing", str(days), str(c.threshold), c.weight, c.floor)


def reserve_shortfall(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Reserve mode: the reserve short of what parents are owed by more than `threshold`."""
    c = cfg.reserve_shortfall
    gap = f.prepaid_outstanding - f.reserve
    if f.supervision_mode != "reserve" or gap <= c.threshold:
        return None
    return Indicator("reserve_shortfall", f"{gap:.2f}", str(c.threshold), c.weight, c.floor)


def registry_change(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.registry_change
    return _counted("registry_change", within(f.registry_changes, ctx.as_of, c.window_days), c)


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
