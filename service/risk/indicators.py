"""The warning signs of docs/domain.md "Warning signs", each a named function of an
institution's facts at `as_of` and its region's knobs (`service.policy.knobs`), returning its
value, threshold, contribution to the score, level floor and evidence. Every window and
threshold comes from the knobs: the facts carry dated evidence over the longest span any region
reads, and each indicator keeps what falls in its own window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from service.fees import working_days
from service.kit.clock import local_date
from service.policy import knobs as k
from service.risk.facts import Dated, Facts


@dataclass(frozen=True, kw_only=True)
class Indicator:
    code: str
    value: str
    threshold: str
    contribution: int
    floor: str | None
    evidence: list[str] = field(default_factory=list)
    note: str | None = None  # what the figure was judged against, in words

    def record(self) -> dict[str, Any]:
        """As kept with the evaluation and the alert (at most 20 pieces of evidence)."""
        out: dict[str, Any] = {
            "code": self.code,
            "value": self.value,
            "threshold": self.threshold,
            "contribution": self.contribution,
            "floor": self.floor,
            "evidence": self.evidence[:20],
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, kw_only=True)
class Peers:
    """The median surge of a city's institutions of one category, over how many."""

    median: Decimal
    count: int


@dataclass(frozen=True, kw_only=True)
class Sibling:
    """A campus of the same sponsor in trouble: which, at what level, and on what — a hard
    signal (`hard`), or its own soft signs at `high` or above (the codes of those signs)."""

    institution_id: str
    codes: tuple[str, ...]
    level: str
    hard: bool = True


@dataclass(frozen=True, kw_only=True)
class Context:
    as_of: datetime
    region_refund_rate: dict[str, Decimal]  # median refund requests per enrollment, by city
    peer_surge: dict[tuple[str, str], Peers] = field(default_factory=dict)  # (city, category)
    # The city's medians the trends and the young are judged beside (a whole sweep's own).
    peer_latency: dict[str, Peers] = field(default_factory=dict)  # working days, by city
    peer_renewal: dict[tuple[str, str], Peers] = field(default_factory=dict)  # (city, cat.)
    peer_package: dict[str, Peers] = field(default_factory=dict)  # lessons a package
    peer_delivery: dict[str, Peers] = field(default_factory=dict)  # delivered share
    # The same share by district (6-digit code): a district whose schools stopped together
    # (classes suspended by order) is one systemic event, not a case at each of its schools.
    district_delivery: dict[str, Peers] = field(default_factory=dict)
    chain: dict[str, list[Sibling]] = field(default_factory=dict)  # by sponsor
    # Accounts swept whose bank has been silent since the same bank day, by (bank, that day):
    # a bank silent for many schools at once is one systemic event, not a case at each.
    silent_banks: dict[tuple[str | None, date], int] = field(default_factory=dict)


IndicatorFn = Callable[[Facts, Context, k.RiskConfig], Indicator | None]


def within(evidence: list[Dated], as_of: datetime, days: int) -> list[str]:
    """The evidence dated in the `days` before as_of."""
    since = as_of - timedelta(days=days)
    return list(dict.fromkeys(i for i, at in evidence if since < at <= as_of))


def on_days(evidence: list[Dated], as_of: datetime, days: int, offset: int = 0) -> list[str]:
    """The evidence of the `days` Beijing days ending `offset` days before as_of's (the
    daily counters' windows, `Facts.total`), up to as_of."""
    end = local_date(as_of) - timedelta(days=offset)
    start = end - timedelta(days=days - 1)
    return [i for i, at in evidence if start <= local_date(at) <= end and at <= as_of]


def one_per_parent(f: Facts, complaints: list[str]) -> list[str]:
    """The first complaint of each complainant among these: a parent counts once."""
    first: dict[str, str] = {}
    for cid in complaints:
        first.setdefault(f.complainant.get(cid, cid), cid)
    return list(first.values())


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    """Exact: thresholds are judged on this; only the reported value is rounded."""
    return a / b if b else Decimal("0")


def _shown(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _counted(code: str, found: list[str], c: Any) -> Indicator | None:
    """An indicator that fires on `threshold` or more pieces of evidence."""
    if len(found) < c.threshold:
        return None
    return Indicator(
        code=code,
        value=str(len(found)),
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=c.floor,
        evidence=found,
    )


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
    return Indicator(
        code="refund_overdue",
        value=str(n),
        threshold=str(c.threshold),
        contribution=weight,
        floor=floor,
        evidence=found,
    )


def refund_velocity(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Refund requests faster than before and than the city's peers. Answered on time they
    weigh little (a class refunded after its teacher left); in an announced wind-down,
    answered on time, nothing."""
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
    late = within(f.unprompt_requests, ctx.as_of, c.window_days)
    weight = c.strong_weight if ratio >= c.strong_threshold else c.weight
    note = None
    prompt = not late or len(late) < c.prompt_share * recent  # none, or a few among many
    said = f"{len(late)} of {recent} late or contested" if late else "every one"
    if prompt and f.closure_announced_at is not None:
        weight, note = 0, f"refunds of an announced closure, answered on time ({said})"
    elif prompt:
        weight, note = min(weight, c.prompt_weight), f"answered on time ({said})"
    shown, thr = _shown(ratio), str(c.threshold)
    return Indicator(
        code="refund_velocity",
        value=shown,
        threshold=thr,
        contribution=weight,
        floor=c.floor,
        evidence=late,
        note=note,
    )


def refund_disputes(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """The institution contests refund requests in bulk."""
    c = cfg.refund_disputes
    disputed = within(f.refund_disputes, ctx.as_of, c.window_days)
    if len(disputed) < c.min_count:
        return None
    answered = within(f.refund_answers, ctx.as_of, c.window_days)
    share = _ratio(Decimal(len(disputed)), Decimal(max(len(answered), len(disputed))))
    if share < c.threshold:
        return None
    floor = c.strong_floor if len(disputed) >= c.strong_count else c.floor
    return Indicator(
        code="refund_disputes",
        value=_shown(share),
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=floor,
        evidence=disputed,
        note=f"{len(disputed)} of {len(answered)} answers disputed",
    )


def _disputed_share(
    f: Facts, ctx: Context, c: k.LessonDisputes, days: int
) -> tuple[Decimal, list[str], int, int]:
    """The share of the lessons reported in the `days` before as_of that parents disputed
    (over at least `min_lessons`), the disputes, the lessons disputed and reported."""
    since = ctx.as_of - timedelta(days=days)
    found = [(i, n) for i, at, n in f.lesson_disputes if since < at <= ctx.as_of]
    disputed = sum(n for _, n in found)
    reported = max(int(f.total("lessons_consumed", ctx.as_of, days)), disputed)
    share = _ratio(Decimal(disputed), Decimal(max(reported, c.min_lessons)))
    return share, [i for i, _ in found], disputed, reported


def lesson_disputes(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Parents dispute the lessons billed: lessons not held. Strong on the window's share,
    or on the last `recent_days`' alone: teaching that stopped a fortnight ago is a third of
    the lessons of those weeks before it is a third of the month's."""
    c = cfg.lesson_disputes
    share, ids, disputed, reported = _disputed_share(f, ctx, c, c.window_days)
    if len(ids) < c.min_count or share < c.threshold:
        return None
    strong = share >= c.strong_threshold and len(ids) >= c.strong_count
    note = f"{disputed} of {reported} lessons reported disputed"
    if not strong and c.recent_days < c.window_days:
        recent, found, n, of = _disputed_share(f, ctx, c, c.recent_days)
        strong = recent >= c.strong_threshold and len(found) >= c.strong_count
        if strong:
            note += f"; {n} of {of} in the last {c.recent_days} days"
    floor = c.strong_floor if strong else c.floor
    return Indicator(
        code="lesson_disputes",
        value=_shown(share),
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=floor,
        evidence=ids,
        note=note,
    )


def own_surge(f: Facts, as_of: datetime, c: k.PrepaySurge) -> Decimal | str:
    """Deposits in the window against the trailing average of as much of the baseline as the
    history holds; or why that means nothing yet."""
    days = (as_of - f.created_at).days
    if days < c.min_history_days:
        return f"not judged: {days} days of history, {c.min_history_days} needed"
    span = min(c.baseline_days, days - c.window_days)
    trailing = f.total("deposits_amount", as_of, span, offset=c.window_days)
    expected = trailing * c.window_days / span
    if expected <= 0:
        return "not judged: nothing collected in the baseline"
    return _ratio(f.total("deposits_amount", as_of, c.window_days), expected)


def _surge_baseline(f: Facts, ctx: Context, c: k.PrepaySurge) -> tuple[Decimal, str] | str:
    """The surge against what this time of year should bring: the institution's trailing
    average, the same weeks a year before where history reaches, over the median surge of its
    city's peers of the same category. Or why it cannot be judged."""
    own = own_surge(f, ctx.as_of, c)
    if isinstance(own, str):
        return own
    recent = f.total("deposits_amount", ctx.as_of, c.window_days)
    ratio, said = own, [f"{_shown(own)}x own"]
    last_year = f.last_year.get(c.window_days)
    if last_year:
        ratio = min(ratio, _ratio(recent, last_year))
        said.append(f"{_shown(_ratio(recent, last_year))}x a year before")
    peers = ctx.peer_surge.get((f.region_code[:4], f.category))
    if peers is not None and peers.count >= c.min_peers and peers.median > 1:
        ratio = ratio / peers.median
        said.append(f"peers {_shown(peers.median)}x ({peers.count})")
    return ratio, "; ".join(said)


def prepay_surge(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """A surge of prepayments, judged against the season and the peers; alone it is a
    question (no floor); money collected far ahead of its sessions adds to it."""
    c = cfg.prepay_surge
    if f.total("deposits_amount", ctx.as_of, c.window_days) <= c.min_amount:
        return None
    judged = _surge_baseline(f, ctx, c)
    if isinstance(judged, str):
        return Indicator(
            code="prepay_surge",
            value="-",
            threshold=str(c.threshold),
            contribution=0,
            floor=None,
            evidence=[],
            note=judged,
        )
    ratio, note = judged
    if ratio < c.threshold:
        return None
    high = ratio >= c.high_threshold
    weight = c.high_weight if high else c.weight
    paid, part = f.ahead.get((c.window_days, c.ahead_days), (Decimal(0), Decimal(0)))
    if paid and part / paid >= c.ahead_share:
        weight += c.ahead_weight
        note += f"; {_shown(part / paid * 100)}% for sessions over {c.ahead_days} days ahead"
    floor = c.high_floor if high else c.floor
    return Indicator(
        code="prepay_surge",
        value=_shown(ratio),
        threshold=str(c.threshold),
        contribution=weight,
        floor=floor,
        evidence=[],
        note=note,
    )


def deep_discount(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    c = cfg.deep_discount
    paid = f.total("enrollments_paid", ctx.as_of, c.window_days)
    if paid < c.min_enrollments:
        return None
    share = _ratio(Decimal(f.discounted.get((c.window_days, c.price_share), 0)), Decimal(paid))
    if share <= c.threshold:
        return None
    return Indicator(
        code="deep_discount",
        value=_shown(share),
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=c.floor,
    )


def off_platform(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Cash unmatched for `suspense_days` (a unit each), and parents asked to pay off the
    platform (`complaint_units` each); `falling_units` of them while new money runs at
    `falling_pace` of its peers' or under (`pace_against_peers`) are `falling_floor`."""
    c = cfg.off_platform
    aged = ctx.as_of - timedelta(days=c.suspense_days)
    cash = [i for i, at in f.suspense if at <= aged]
    said = one_per_parent(f, within(f.off_platform_complaints, ctx.as_of, c.window_days))
    units = len(cash) + c.complaint_units * len(said)
    if units < c.threshold:
        return None
    floor, note = (c.high_floor if units >= c.high_units else c.floor), None
    if units < c.high_units and units >= c.falling_units:
        # A parent asked to pay elsewhere while the school's new money falls to half its
        # peers' pace: the money is going where the parent was asked to pay.
        pace = pace_against_peers(f, ctx, cfg)
        if pace is not None and pace <= c.falling_pace:
            floor = c.falling_floor
            note = f"new money falling: {_shown(pace)}x its peers' pace (renewal_decline's measure)"
    return Indicator(
        code="off_platform",
        value=str(units),
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=floor,
        evidence=said + cash,
        note=note,
    )


def consumption_pace(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Lessons reported ahead of the timetable: a few are make-up lessons; many at once are
    billing for lessons not held."""
    c = cfg.consumption_pace
    found = within(f.pace_violations, ctx.as_of, c.window_days)
    if len(found) < c.threshold:
        return None
    high = len(found) >= c.high_count
    weight, floor = (c.high_weight, c.high_floor) if high else (c.weight, c.floor)
    return Indicator(
        code="consumption_pace",
        value=str(len(found)),
        threshold=str(c.threshold),
        contribution=weight,
        floor=floor,
        evidence=found,
    )


def consumption_stall(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """A week and more of scheduled lessons (at least `min_sessions`) and none reported in
    the window: teaching has stopped, or the lessons are no longer reported. Not read in an
    announced wind-down (the closure's own indicator judges it)."""
    c = cfg.consumption_stall
    if f.closure_announced_at is not None:
        return None
    scheduled, oldest = f.stall.get(c.window_days, (0, None))
    if scheduled < c.min_sessions or oldest is None:
        return None
    if oldest > ctx.as_of - timedelta(days=c.min_days):
        return None
    if f.total("lessons_consumed", ctx.as_of, c.window_days) > 0:
        return None
    if stopped_together(f, ctx, cfg.delivery_share) is not None:
        return None  # its district's or city's classes stopped with it: one systemic event
    days = str(c.window_days)
    return Indicator(
        code="consumption_stall", value=days, threshold=days, contribution=c.weight, floor=c.floor
    )


def complaint_surge(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Parents complaining in the window against the trailing baseline's rate, each parent
    (enrollment) counted once however often they filed."""
    c = cfg.complaint_surge
    window = on_days(f.complaints, ctx.as_of, c.window_days)
    if district_order(f, ctx, cfg.delivery_share) and not short_of_place(f, ctx, cfg):
        # Classes short across the district (an order, and the weeks it leaves in the
        # windows): parents saying teaching stopped speak of the place, not the school —
        # unless the school is short even against what the district delivered.
        theirs = {i for i, _ in f.teaching_complaints}
        window = [i for i in window if i not in theirs]
    found = one_per_parent(f, window)
    recent = len(found)
    if recent < c.min_count:
        return None
    before = on_days(f.complaints, ctx.as_of, c.baseline_days, offset=c.window_days)
    trailing = Decimal(len(one_per_parent(f, before)))
    expected = trailing * c.window_days / c.baseline_days
    ratio = _ratio(Decimal(recent), expected) if expected > 0 else Decimal("99")
    if ratio < c.threshold:
        return None
    weight = c.strong_weight if recent >= c.strong_count else c.weight
    return Indicator(
        code="complaint_surge",
        value=_shown(ratio),
        threshold=str(c.threshold),
        contribution=weight,
        floor=c.floor,
        evidence=found,
    )


def statement_missing(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """The bank's silence on the escrow account, in working days (today's statement is not
    yet due), heavier the longer it lasts."""
    c = cfg.statement_missing
    silence = statement_overdue(f, ctx.as_of, cfg)
    if silence is None:
        return None
    last, days = silence
    weight = min(c.max_weight, c.weight + c.step_weight * (days - c.threshold))
    floor = c.high_floor if days >= c.high_days else c.floor
    note = f"{days} working days since the statement of {last.isoformat()}"
    together = ctx.silent_banks.get((f.bank_id, last), 0)
    if together >= c.systemic_schools:  # the bank's silence, not the school's
        weight, floor = 0, None
        note += (f"; the bank silent on {together} accounts since that day: a systemic event "
                 "(one notice in the sweep's record), not weighed here")  # fmt: skip
    return Indicator(
        code="statement_missing",
        value=str(days),
        threshold=str(c.threshold),
        contribution=weight,
        floor=floor,
        evidence=[],
        note=note,
    )


def statement_silence(f: Facts, as_of: datetime) -> tuple[date, int]:
    """The bank day of the escrow account's last statement (the institution's first day when
    none came) and the working days since it, today's not yet due. Counted over at most 600
    calendar days: more working days than the knob's largest threshold (366)."""
    last = f.last_statement_date or local_date(f.created_at)
    before = min(local_date(as_of), last + timedelta(days=600)) - timedelta(days=1)
    return last, working_days.working_days_between(last, before).days


def statement_overdue(f: Facts, as_of: datetime, cfg: k.RiskConfig) -> tuple[date, int] | None:
    """The silence (as `statement_silence`) when the bank has been silent on an account that
    holds money for at least the region's threshold of working days, else None: what the
    indicator fires on and what the midday job looks for, one predicate for both."""
    if not f.ever_deposited:
        return None
    last, days = statement_silence(f, as_of)
    return (last, days) if days >= cfg.statement_missing.threshold else None


def reserve_shortfall(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Reserve mode: the reserve short of the share of what parents are owed that the pack's
    `reserve_requirement` asks for (all of it by default) by more than `threshold`."""
    c = cfg.reserve_shortfall
    required = (f.prepaid_outstanding * f.reserve_share).quantize(Decimal("0.01"), ROUND_HALF_UP)
    gap = required - f.reserve
    if f.supervision_mode != "reserve" or gap <= c.threshold:
        return None
    share = f"{f.reserve_share * 100:.0f}%"
    return Indicator(
        code="reserve_shortfall",
        value=f"{gap:.2f}",
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=c.floor,
        note=None if f.reserve_share == 1 else f"required: {share} of {f.prepaid_outstanding:.2f}",
    )


def registry_change(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Changes of legal person and address adding up within the window."""
    c = cfg.registry_change
    changes = within(f.registry_changes, ctx.as_of, c.window_days)
    legal = set(within(f.legal_person_changes, ctx.as_of, c.window_days))
    units = sum(c.legal_person_units if i in legal else 1 for i in changes)
    if units < c.threshold:
        return None
    weight = min(c.max_weight, c.weight * units)
    floor = c.high_floor if units >= c.high_units else c.floor
    return Indicator(
        code="registry_change",
        value=str(units),
        threshold=str(c.threshold),
        contribution=weight,
        floor=floor,
        evidence=changes,
    )


def closure_default(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """An announced closure took effect `grace_days` ago and parents are still owed."""
    c = cfg.closure_default
    if f.closing_on is None or local_date(ctx.as_of) < f.closing_on + timedelta(c.grace_days):
        return None
    owed = f.prepaid_outstanding
    # Refunds it contested are the regulator's to decide (the money stays in escrow until
    # then): a dispute, not a plan not kept.
    if owed - f.contested_owed <= c.threshold:
        return None
    note = f"closed {f.closing_on.isoformat()}; parents still owed"
    if f.contested_owed:
        note += f" ({f.contested_owed:.2f} of it under contested refunds awaiting a decision)"
    return Indicator(
        code="closure_default",
        value=f"{owed:.2f}",
        threshold=str(c.threshold),
        contribution=c.weight,
        floor=c.floor,
        evidence=[],
        note=note,
    )


def bank_warning(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """The bank's warning under the pack's `bank_warnings` (Hangzhou): what left the supervised
    account on the day of as_of, or in the 7 days to it, over the pack's amount; or the
    account below the pack's minimum balance. Evidence: the instructions of the window."""
    rule = f.bank_warnings
    if rule is None:
        return None
    today = local_date(ctx.as_of)
    seen = [(i, local_date(at), a) for i, at, a in f.withdrawals if at <= ctx.as_of]
    week = [(i, a) for i, on, a in seen if today - timedelta(days=6) <= on <= today]
    day = [(i, a) for i, on, a in seen if on == today]
    crossed: list[tuple[str, Decimal, Decimal, list[str]]] = []
    for what, limit, rows in (("daily withdrawals", rule.daily_withdrawals, day),
                              ("weekly withdrawals", rule.weekly_withdrawals, week)):  # fmt: skip
        total = sum((a for _, a in rows), Decimal("0"))
        if limit is not None and total > limit:
            crossed.append((what, total, limit, [i for i, _ in rows]))
    low = rule.minimum_balance
    if low is not None and f.escrow_balance is not None and f.escrow_balance < low:
        crossed.append(("balance", f.escrow_balance, low, []))
    if not crossed:
        return None
    what, value, limit, _ = crossed[0]
    return Indicator(
        code="bank_warning",
        value=_shown(value),
        threshold=_shown(limit),
        contribution=cfg.bank_warning.weight,
        floor=cfg.bank_warning.floor,
        evidence=list(dict.fromkeys(i for *_, ids in crossed for i in ids)),
        note="; ".join(f"{w} {_shown(v)} over {_shown(t)}" if w != "balance"
                       else f"balance {_shown(v)} below {_shown(t)}"
                       for w, v, t, _ in crossed),
    )  # fmt: skip


def wind_down(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """The institution is being wound up (docs/winddown.md): the failure the other signs
    foretell has happened. Not a figure against a threshold: the event, at the top level,
    with the wind-down as its evidence. While it stands the institution is judged by it
    alone (`sweep.evaluate`): a school that no longer trades is not scored on its trading."""
    if f.wind_down is None:
        return None
    wd_id, reason, effective = f.wind_down
    return Indicator(
        code="wind_down",
        value=reason,
        threshold="",
        contribution=100,
        floor="critical",
        evidence=[wd_id],
        note=f"wound up from {local_date(effective).isoformat()}",
    )


# ---------------------------------------------------------------------- chains (issue 35)
def chain_sibling(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """A sibling campus with a hard signal, weighed with this campus's own signs; a sibling at
    `high` on its own soft signs (a slow bleed ahead of this one) weighs less, and only with
    signs of this campus's own."""
    c = cfg.chain_sibling
    if f.sponsor is None:
        return None
    found = [s for s in ctx.chain.get(f.sponsor, []) if s.institution_id != f.institution_id]
    if not found:
        return None
    hard = [s for s in found if s.hard]
    signs = f.own_signs >= c.own_min
    if hard:
        weight = c.signs_weight if signs else c.weight
    else:
        weight = c.soft_signs_weight if signs else c.soft_weight
    said = "; ".join(
        f"{s.institution_id} {s.level} ({', '.join(s.codes)}"
        + ("" if s.hard else ": its own signs, no hard signal")
        + ")"
        for s in found
    )
    own = f"own signs {f.own_signs}" if f.own_signs else "no signs of its own"
    return Indicator(
        code="chain_sibling",
        value=str(len(found)),
        threshold="1",
        contribution=weight,
        floor=c.floor,
        evidence=[s.institution_id for s in found],
        note=f"sponsor {f.sponsor}: {said}; {own}",
    )


# ---------------------------------------------------------------------- trends (issue 35)
def latency_mean(f: Facts, as_of: datetime, days: int, offset: int = 0) -> tuple[Decimal, int]:
    """The mean working days refunds answered in `days` days (ending `offset` days before
    as_of) took, and how many."""
    until = as_of - timedelta(days=offset)
    since = until - timedelta(days=days)
    taken = [n for _, at, n in f.answer_latency if since < at <= until]
    return (Decimal(sum(taken)) / len(taken) if taken else Decimal(0)), len(taken)


def refund_latency(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Refunds answered later and later: against the school's own past and its peers."""
    c = cfg.refund_latency
    recent, n = latency_mean(f, ctx.as_of, c.window_days)
    if n < c.min_answers:
        return None
    past, m = latency_mean(f, ctx.as_of, c.baseline_days, offset=c.window_days)
    peers = ctx.peer_latency.get(f.region_code[:4])
    if peers is None or peers.count < c.min_peers:
        return None  # a slowing the whole city shares cannot be told from one's own
    base = max(peers.median, Decimal("0.5"))
    if recent < base * c.threshold or recent - base < c.min_increase:
        return None
    if m and past >= recent * c.habit_share:
        return None  # as slow before: its habit, not a trend
    weight = c.strong_weight if recent >= c.strong_days else c.weight
    note = (f"{_shown(recent)} working days on {n} answers; before {_shown(past)} "
            f"({m}); peers {_shown(peers.median)} ({peers.count})")  # fmt: skip
    ids = [i for i, at, _ in f.answer_latency if at > ctx.as_of - timedelta(days=c.window_days)]
    return Indicator(
        code="refund_latency",
        value=_shown(recent),
        threshold=_shown(base * c.threshold),
        contribution=weight,
        floor=c.floor,
        evidence=ids,
        note=note,
    )


def dispute_trend(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """The contested share of refund answers rising against the school's own past."""
    c = cfg.dispute_trend

    def share(days: int, offset: int) -> tuple[Decimal, list[str]]:
        end = ctx.as_of - timedelta(days=offset)
        start = end - timedelta(days=days)
        answered = [i for i, at in f.refund_answers if start < at <= end]
        disputed = [i for i, at in f.refund_disputes if start < at <= end]
        return _ratio(Decimal(len(disputed)), Decimal(len(answered))), disputed

    now, disputed = share(c.window_days, 0)
    if len(disputed) < c.min_count or now < c.min_share:
        return None
    if refund_disputes(f, ctx, cfg) is not None:
        return None  # the same answers, judged there in bulk: not counted twice
    before, _ = share(c.baseline_days, c.window_days)
    if now < c.base_share * c.threshold or before >= now * c.habit_share:
        return None  # under twice the ordinary share, or as contested before: its habit
    # The strong form is a rise against a past of its own: a school newer than the window and
    # its baseline has none yet (half of two answers in its first weeks is no trend).
    settled = (ctx.as_of - f.created_at).days >= c.window_days + c.baseline_days
    return Indicator(
        code="dispute_trend",
        value=_shown(now),
        threshold=_shown(c.base_share * c.threshold),
        contribution=c.strong_weight if settled and now >= c.strong_share else c.weight,
        floor=c.floor,
        evidence=disputed,
        note=f"contested {_shown(now * 100)}% of answers, {_shown(before * 100)}% before",
    )


def renewal_ratio(f: Facts, as_of: datetime, c: k.RenewalDecline) -> Decimal | None:
    """New money in the window against the baseline's pace, or None without a baseline
    (too young, or under `min_amount` collected in it)."""
    if (as_of - f.created_at).days < c.window_days + c.baseline_days:
        return None
    then = f.total("deposits_amount", as_of, c.baseline_days, offset=c.window_days)
    if then <= c.min_amount:
        return None
    expected = then * c.window_days / c.baseline_days
    return _ratio(f.total("deposits_amount", as_of, c.window_days), expected)


def pace_against_peers(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Decimal | None:
    """New money's pace against its own baseline, over the city's peers' median pace: the
    measure of `renewal_decline`, the season included (no `peer_floor`: against the peers, a
    term's start everyone had is no fall). None where it is not judged: in a discount drive
    or a wind-down, without a baseline, without `min_peers` peers."""
    c = cfg.renewal_decline
    if f.closure_announced_at is not None or deep_discount(f, ctx, cfg) is not None:
        return None
    ratio = renewal_ratio(f, ctx.as_of, c)
    peers = ctx.peer_renewal.get((f.region_code[:4], f.category))
    if ratio is None or peers is None or peers.count < c.min_peers or peers.median <= 0:
        return None
    return ratio / peers.median


def renewal_decline(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """New money at full price falling while the city's peers keep their pace."""
    c = cfg.renewal_decline
    if f.closure_announced_at is not None or deep_discount(f, ctx, cfg) is not None:
        return None
    ratio = renewal_ratio(f, ctx.as_of, c)
    peers = ctx.peer_renewal.get((f.region_code[:4], f.category))
    if ratio is None or peers is None or peers.count < c.min_peers:
        return None
    if peers.median < c.peer_floor:
        return None  # the season (or a shock) everyone shares
    relative = ratio / peers.median
    if relative > c.threshold:
        return None
    note = f"{_shown(ratio)}x its own pace; peers {_shown(peers.median)}x ({peers.count})"
    # New money falling beside refunds answered later and later, or more of them contested:
    # two trends of one slow bleed, which together are `high` as any two trends are.
    trends = [t.code for t in (refund_latency(f, ctx, cfg), dispute_trend(f, ctx, cfg)) if t]
    if trends:
        note += f"; with {', '.join(trends)}"
    return Indicator(
        code="renewal_decline",
        value=_shown(relative),
        threshold=str(c.threshold),
        contribution=c.trend_weight if trends else c.weight,
        floor=c.floor,
        evidence=[],
        note=note,
    )


# ---------------------------------------------------------------------- youth (issue 35)
def package_mean(f: Facts, c: k.YoungSchool) -> Decimal | None:
    n, lessons = f.packages.get(c.window_days, (0, 0))
    return Decimal(lessons) / n if n >= c.min_enrollments else None


def _youth_signs(f: Facts, ctx: Context, cfg: k.RiskConfig) -> list[str]:
    """The young school's signs of collecting ahead of what it delivers, in words."""
    c, ps = cfg.young_school, cfg.prepay_surge
    signs = []
    discount = deep_discount(f, ctx, cfg)
    if discount is not None:
        signs.append(f"{_shown(Decimal(discount.value) * 100)}% of enrollments deeply discounted")
    paid, part = f.ahead.get((ps.window_days, ps.ahead_days), (Decimal(0), Decimal(0)))
    if paid and part / paid >= c.ahead_share:
        signs.append(f"{_shown(part / paid * 100)}% for sessions over {ps.ahead_days} days ahead")
    mean = package_mean(f, c)
    peers = ctx.peer_package.get(f.region_code[:4])
    if mean is not None and peers is not None and peers.count >= c.min_peers:
        if mean >= peers.median * c.long_ratio:
            signs.append(f"packages of {_shown(mean)} lessons, peers {_shown(peers.median)}")
    return signs


def young_school(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """A school licensed lately, judged on what it collects against what it delivers."""
    c = cfg.young_school
    age = (ctx.as_of - f.created_at).days
    if age >= c.young_days:
        return None
    signs = _youth_signs(f, ctx, cfg)
    units = len(signs)
    if not units:
        return None  # young and collecting no faster than it delivers: nothing to say
    floor = c.high_floor if units >= c.high_units else c.floor
    months = age * 12 // 365
    return Indicator(
        code="young_school",
        value=str(units),
        threshold=str(c.high_units),
        contribution=c.weight * units,
        floor=floor,
        evidence=[],
        note="; ".join([f"licensed {months} months ago ({age} days)", *signs]),
    )


# ---------------------------------------------------------------------- walkouts (issue 35)
def expected_sessions(f: Facts, c: k.DeliveryShare) -> int:
    """The sessions the window's reports should cover: those scheduled in the window `lag`
    days before (reports follow lessons: a term starting is not a shortfall), or, when
    fewer, those scheduled in the window itself (a season ending, a camp's last weeks: the
    lessons that were never bought are not cancelled)."""
    lagged = f.scheduled.get((c.window_days, c.lag_days), 0)
    now = f.stall.get(c.window_days)
    return lagged if now is None else min(lagged, now[0])


def delivery_ratio(f: Facts, as_of: datetime, c: k.DeliveryShare) -> Decimal | None:
    """Lessons reported in the window against the sessions expected in it; None where a
    share says nothing: too few sessions expected, a school that has not been reporting
    lessons before the window (no timetable kept to fall from), a wind-down."""
    scheduled = expected_sessions(f, c)
    if scheduled < c.min_sessions or f.closure_announced_at is not None:
        return None
    if f.total("lessons_consumed", as_of, c.baseline_days, offset=c.window_days) < c.min_reported:
        return None
    return _ratio(Decimal(f.total("lessons_consumed", as_of, c.window_days)), Decimal(scheduled))


def stopped_together(f: Facts, ctx: Context, c: k.DeliveryShare) -> Peers | None:
    """The institution's district's, or else its city's, delivered share when their schools
    (at least `min_peers`) deliver under `peer_floor` together: classes suspended by order,
    a systemic event the sweep reports once (`systemic_events`), not a case at each school.
    None when the place is teaching."""
    for peers in (
        ctx.district_delivery.get(f.region_code),
        ctx.peer_delivery.get(f.region_code[:4]),
    ):
        if peers is not None and peers.count >= c.min_peers and peers.median < c.peer_floor:
            return peers
    return None


def short_together(f: Facts, ctx: Context, c: k.DeliveryShare) -> Peers | None:
    """The delivered share of the institution's district (of its city where under
    `min_peers` schools are judged in the district) when under `normal_share`: its schools
    short together, classes resuming after an order (or a holiday). What was possible there
    is that share, and complaints that teaching stopped are the place's. None when the place
    teaches as filed."""
    place = ctx.district_delivery.get(f.region_code)
    if place is None or place.count < c.min_peers:
        place = ctx.peer_delivery.get(f.region_code[:4])
    if place is None or place.count < c.min_peers or place.median >= c.normal_share:
        return None
    return place


def short_of_place(f: Facts, ctx: Context, cfg: k.RiskConfig) -> bool:
    """Whether the school delivers under `delivery_share`'s threshold even against what its
    place (`short_together`) delivered: short of its district, not only with it."""
    c = cfg.delivery_share
    share = delivery_ratio(f, ctx.as_of, c)
    place = short_together(f, ctx, c)
    if share is None or place is None or place.median <= 0:
        return False
    return share / place.median < c.threshold


def district_order(f: Facts, ctx: Context, c: k.DeliveryShare) -> bool:
    """Whether the institution's district delivers short together (`short_together`) while
    its city teaches as filed: the aftermath of an order on the district, whose parents'
    complaints that teaching stopped speak of the order. A city short as a whole (a holiday
    week, or a city's own order) is not told apart from its schools: complaints count there."""
    district = ctx.district_delivery.get(f.region_code)
    city = ctx.peer_delivery.get(f.region_code[:4])
    if district is None or district.count < c.min_peers or district.median >= c.normal_share:
        return False
    return city is None or city.count < c.min_peers or city.median >= c.normal_share


def delivery_share(f: Facts, ctx: Context, cfg: k.RiskConfig) -> Indicator | None:
    """Classes cancelled in waves: lessons delivered against the filed timetable, and where
    the school's district delivers short together, against what the district delivered."""
    c = cfg.delivery_share
    share = delivery_ratio(f, ctx.as_of, c)
    peers = ctx.peer_delivery.get(f.region_code[:4])
    if share is None or share >= c.threshold or peers is None or peers.count < c.min_peers:
        return None
    if stopped_together(f, ctx, c) is not None:
        return None  # the district's or city's classes stopped together: not this school
    short = short_together(f, ctx, c)
    if short is not None and short.median <= 0:
        return None  # nothing was possible
    judged = share / short.median if short is not None else share
    if judged >= c.threshold:
        return None
    scheduled = expected_sessions(f, c)
    # Short even against what its district delivered: its parents saying teaching stopped
    # speak of the school, whatever the district (a median an operator's own campuses set, or
    # a mediocre district, must not silence them).
    said = one_per_parent(f, within(f.teaching_complaints, ctx.as_of, c.complaint_days))
    corroborated = len(said) >= c.corroborating
    strong = corroborated or (judged < c.strong_threshold and scheduled >= c.strong_min_sessions)
    before = f.total("lessons_consumed", ctx.as_of, c.baseline_days, offset=c.window_days)
    note = (f"{_shown(share * 100)}% of {scheduled} sessions scheduled delivered; "
            f"{before} lessons reported in the {c.baseline_days} days before; "
            f"peers {_shown(peers.median * 100)}% ({peers.count})")  # fmt: skip
    if short is not None:
        note += (f"; its place's schools delivering {_shown(short.median * 100)}% together "
                 "(what was possible): judged against that")  # fmt: skip
    if said:
        note += f"; {len(said)} parents complained teaching stopped in {c.complaint_days} days"
    return Indicator(
        code="delivery_share",
        value=_shown(judged),
        threshold=str(c.threshold),
        contribution=c.strong_weight if strong else c.weight,
        floor=c.strong_floor if strong else c.floor,
        evidence=said,
        note=note,
    )


INDICATORS: dict[str, IndicatorFn] = {
    fn.__name__: fn
    for fn in (
        refund_failed,
        escrow_shortfall,
        refund_overdue,
        refund_velocity,
        refund_disputes,
        lesson_disputes,
        prepay_surge,
        deep_discount,
        off_platform,
        consumption_pace,
        consumption_stall,
        complaint_surge,
        statement_missing,
        reserve_shortfall,
        registry_change,
        closure_default,
        bank_warning,
        refund_latency,
        dispute_trend,
        renewal_decline,
        young_school,
        delivery_share,
        chain_sibling,  # last: it weighs the signs of all the others (`Facts.own_signs`)
    )
}
