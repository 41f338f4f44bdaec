"""The rule engine a course filing is checked against (docs/domain.md, its
guidance prices and the rules a filing is checked against).

Each rule is a small named function of (filing, context) returning violations: a stable
`rule` code, a message that states the numbers involved, and the source document. Adding a
region's own rule is adding one function to `RULES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from service.fees.calendar import school_day
from service.fees.caps import add_months
from service.fees.prices import Band, Guide, GuideBook
from service.kit.clock import local
from service.kit.money import format_money, format_percent
from service.policy.rules import CardCaps

OFFLINE_END = time(20, 30)
ONLINE_END = time(21, 0)
ONLINE_MAX_MINUTES = 30
ONLINE_MIN_BREAK = timedelta(minutes=10)

SRC_DOUBLE_REDUCTION = "中办发〔2021〕40号 (双减) and provincial measures"
SRC_PRICES = "发改价格〔2021〕1279号"
SRC_NON_SUBJECT = "MOE and 12 departments, opinion on non-subject training (2022-12)"
SRC_CARD_CAPS = "the region's rule pack, card_caps (Shanghai: fitness prepaid cards, 2025)"
SRC_PRICE_LAW = (
    "价格法; 中小学生校外培训服务合同(示范文本) GF-2021-2604: no fictitious original prices"
)


@dataclass(frozen=True, kw_only=True)
class Filing:
    category: str  # subject | non_subject
    grade_band: str
    mode: str  # offline | online
    class_size: int
    lesson_minutes: int
    lessons_total: int
    price_per_lesson: Decimal
    list_price_per_lesson: Decimal | None
    sessions: tuple[tuple[datetime, datetime], ...]
    region_code: str
    # The kind of prepaid card a gym sells (docs/rules.md): `sessions`, `membership` (by time)
    # or `stored_value`; the pack's card caps of that kind apply.
    card_kind: str = "sessions"


@dataclass(frozen=True, kw_only=True)
class Vacation:
    name: str
    start: date
    end: date


@dataclass(kw_only=True)
class Context:
    guides: GuideBook
    vacations: dict[str, list[Vacation]] = field(default_factory=dict)  # by region code
    # The pack's caps on prepaid cards (the fitness packs), None where the pack sets none.
    card_caps: CardCaps | None = None

    def vacation_on(self, region_code: str, day: date) -> Vacation | None:
        """The most specific region that set vacations for the year decides."""
        from service.registry.regions import ancestry

        for code in ancestry(region_code):
            of_year = [
                v
                for v in self.vacations.get(code, ())
                if v.start.year == day.year or v.end.year == day.year
            ]
            if of_year:
                return next((v for v in of_year if v.start <= day <= v.end), None)
        return None


Violation = dict[str, Any]
RuleFn = Callable[[Filing, Context], list[Violation]]


@dataclass(frozen=True, kw_only=True)
class Rule:
    code: str
    source: str
    check: RuleFn


def _v(rule: str, message: str, source: str, **details: Any) -> Violation:
    return {"rule": rule, "message": message, "source": source, **details}


def _first_day(f: Filing) -> date:
    return local(min(s for s, _ in f.sessions)).date() if f.sessions else date.min


def price_band(f: Filing, ctx: Context) -> tuple[Guide, Band] | None:
    return ctx.guides.band_for(
        f.region_code, _first_day(f), mode=f.mode, grade_band=f.grade_band, class_size=f.class_size
    )


def price_check(f: Filing, ctx: Context) -> dict[str, Any]:
    found = price_band(f, ctx)
    if found is None:
        return {
            "base_price": None,
            "ceiling_per_lesson": None,
            "price_per_lesson": format_money(f.price_per_lesson),
            "standard_minutes": None,
        }
    guide, band = found
    return {
        "base_price": format_money(band.base_price),
        "ceiling_per_lesson": format_money(band.ceiling(f.lesson_minutes)),
        "price_per_lesson": format_money(f.price_per_lesson),
        "standard_minutes": band.standard_minutes,
        "max_float_pct": format_money(band.max_float_pct),
        "guide_id": guide.id,
        "guide_region": guide.region_code,
    }


def rule_price(f: Filing, ctx: Context) -> list[Violation]:
    if f.category != "subject":
        return []
    found = price_band(f, ctx)
    if found is None:
        return [
            _v(
                "no_guidance_price",
                f"no guidance price of region {f.region_code} or its parents covers "
                f"{f.mode} {f.grade_band} classes of {f.class_size} on {_first_day(f)}",
                SRC_PRICES,
            )
        ]
    _, band = found
    ceiling = band.ceiling(f.lesson_minutes)
    out = []
    if f.price_per_lesson > ceiling:
        excess = format_money(f.price_per_lesson - ceiling)
        basis = f"base {format_money(band.base_price)} yuan per {band.standard_minutes} minutes"
        basis += f", allowed up to {format_percent(band.max_float_pct)}% above it"
        message = f"{format_money(f.price_per_lesson)} yuan per {f.lesson_minutes}-minute lesson"
        message += f" exceeds the ceiling {format_money(ceiling)} ({basis}) by {excess}"
        out.append(
            _v(
                "price_above_guidance",
                message,
                SRC_PRICES,
                base_price=format_money(band.base_price),
                ceiling_per_lesson=format_money(ceiling),
                excess=excess,
            )
        )
    if f.list_price_per_lesson is not None and f.list_price_per_lesson > ceiling:
        out.append(
            _v(
                "list_price_above_guidance",
                f"the claimed original price {format_money(f.list_price_per_lesson)} is above the "
                f"guidance ceiling {format_money(ceiling)}: it could never have been charged",
                SRC_PRICE_LAW,
                ceiling_per_lesson=format_money(ceiling),
            )
        )
    return out


def _per_session(
    f: Filing, test: Callable[[int, datetime, datetime], Violation | None]
) -> list[Violation]:
    out = []
    for i, (start, end) in enumerate(f.sessions, start=1):
        v = test(i, start, end)
        if v is not None:
            out.append(v)
    return out


def rule_school_days(f: Filing, ctx: Context) -> list[Violation]:
    if f.category != "subject":
        return []

    def test(i: int, start: datetime, _: datetime) -> Violation | None:
        day = local(start).date()
        ok, why = school_day(day)
        if ok:
            return None
        return _v(
            "weekend_or_holiday_session",
            f"lesson {i} on {day} ({why}) — subject training is not allowed on weekends "
            "and statutory holidays",
            SRC_DOUBLE_REDUCTION,
            session=i,
            date=day.isoformat(),
        )

    return _per_session(f, test)


def rule_vacations(f: Filing, ctx: Context) -> list[Violation]:
    if f.category != "subject":
        return []

    def test(i: int, start: datetime, _: datetime) -> Violation | None:
        day = local(start).date()
        vac = ctx.vacation_on(f.region_code, day)
        if vac is None:
            return None
        return _v(
            "vacation_session",
            f"lesson {i} on {day} falls in the {vac.name} ({vac.start} to {vac.end})",
            SRC_DOUBLE_REDUCTION,
            session=i,
            date=day.isoformat(),
        )

    return _per_session(f, test)


def _ends_after(limit: time, code: str, mode: str, source: str) -> RuleFn:
    def check(f: Filing, ctx: Context) -> list[Violation]:
        if f.mode != mode:
            return []

        def test(i: int, start: datetime, end: datetime) -> Violation | None:
            end_local = local(end)
            if local(start).date() == end_local.date() and end_local.time() <= limit:
                return None
            return _v(
                code,
                f"lesson {i} ends at {end_local:%Y-%m-%d %H:%M}, after {limit:%H:%M} Beijing time",
                source,
                session=i,
            )

        return _per_session(f, test)

    return check


def rule_online_length(f: Filing, ctx: Context) -> list[Violation]:
    if f.mode != "online" or f.lesson_minutes <= ONLINE_MAX_MINUTES:
        return []
    return [
        _v(
            "online_lesson_too_long",
            f"online lessons of {f.lesson_minutes} minutes exceed {ONLINE_MAX_MINUTES}",
            SRC_DOUBLE_REDUCTION,
        )
    ]


def rule_online_breaks(f: Filing, ctx: Context) -> list[Violation]:
    if f.mode != "online":
        return []
    ordered = sorted(f.sessions)
    out = []
    for i in range(1, len(ordered)):
        gap = ordered[i][0] - ordered[i - 1][1]
        if gap < ONLINE_MIN_BREAK:
            minutes = gap.total_seconds() / 60
            out.append(
                _v(
                    "online_break_too_short",
                    f"only {minutes:g} minutes between lessons {i} and {i + 1}; at least "
                    f"{ONLINE_MIN_BREAK.seconds // 60} are required",
                    SRC_DOUBLE_REDUCTION,
                    session=i + 1,
                )
            )
    return out


def rule_preschool(f: Filing, ctx: Context) -> list[Violation]:
    if f.grade_band != "preschool":
        return []
    out = []
    if f.mode == "online":
        out.append(
            _v("preschool_online", "no online training of preschool children", SRC_DOUBLE_REDUCTION)
        )
    if f.category == "subject":
        out.append(
            _v(
                "preschool_subject",
                "no subject training (foreign languages included) of preschool children",
                SRC_DOUBLE_REDUCTION,
            )
        )
    return out


def _card_over(f: Filing, cap: str, limit: Any, value: Any, message: str) -> Violation:
    """A card over one of the pack's card caps: the cap passed (`card_caps.<cap>` of the pack,
    `pack_rule`), its limit and the card's value, beside the card's kind."""
    return _v("card_over_cap", f"{message}; the region's pack allows at most {limit}",
              SRC_CARD_CAPS, card=f.card_kind, cap=cap, pack_rule=f"card_caps.{cap}",
              limit=limit, value=value)  # fmt: skip


def _card_value(f: Filing) -> Decimal:
    """What the card sells: its sessions at the filed price, or the list price if higher."""
    return max(f.price_per_lesson, f.list_price_per_lesson or f.price_per_lesson) * f.lessons_total


def months_spanned(f: Filing) -> int:
    """The whole months a card's term takes, from its first session's Beijing day to its last
    (a part month counts whole): a membership's term, held to `membership_months`. Counted as
    the Civil Code counts a period in months (民法典 Art. 201-202): the first day not counted,
    N months end on the day of the same number N months on, or that month's last day where
    it has none; so the least N with `add_months(first, N)` on or after the last day, and at
    least 1 (docs/rules.md, "A membership's term")."""
    if not f.sessions:
        return 0
    first = local(min(s for s, _ in f.sessions)).date()
    last = local(max(e for _, e in f.sessions)).date()
    months = (last.year - first.year) * 12 + last.month - first.month
    return months + 1 if add_months(first, months) < last else max(months, 1)


def rule_card_caps(f: Filing, ctx: Context) -> list[Violation]:
    """A gym's course is a prepaid card of one of three kinds (Shanghai's 2025 fitness rules):
    a card of sessions (at most 60 sessions and 20,000 yuan), a membership by time (at most
    5,000 yuan and a 24-month term) or a stored value (at most 5,000 yuan). Each kind is held
    to its own caps of the pack; a school's pack sets no card caps (its purchases are capped at
    enrollment, `prepay_caps`)."""
    caps = ctx.card_caps
    if caps is None:
        return []
    total, price = _card_value(f), format_money(_card_value(f) / f.lessons_total)
    amount = format_money(total)
    out = []
    if f.card_kind == "membership":
        if total > caps.membership_amount:
            out.append(_card_over(f, "membership_amount", format_money(caps.membership_amount),
                                  amount, f"a membership of {amount} yuan"))  # fmt: skip
        months = months_spanned(f)
        if months > caps.membership_months:
            out.append(_card_over(f, "membership_months", caps.membership_months, months,
                                  f"a membership of {months} months"))  # fmt: skip
        return out
    if f.card_kind == "stored_value":
        if total > caps.stored_value_amount:
            out.append(_card_over(f, "stored_value_amount",
                                  format_money(caps.stored_value_amount), amount,
                                  f"a stored value of {amount} yuan"))  # fmt: skip
        return out
    if f.lessons_total > caps.sessions:
        out.append(_card_over(f, "sessions", caps.sessions, f.lessons_total,
                              f"a card of {f.lessons_total} sessions"))  # fmt: skip
    if total > caps.sessions_amount:
        out.append(_card_over(f, "amount", format_money(caps.sessions_amount), amount,
                              f"a card of {f.lessons_total} sessions at {price} is {amount} "
                              "yuan"))  # fmt: skip
    return out


RULES: list[Rule] = [
    Rule(code="card_over_cap", source=SRC_CARD_CAPS, check=rule_card_caps),
    Rule(code="price_above_guidance", source=SRC_PRICES, check=rule_price),
    Rule(code="weekend_or_holiday_session", source=SRC_DOUBLE_REDUCTION, check=rule_school_days),
    Rule(code="vacation_session", source=SRC_DOUBLE_REDUCTION, check=rule_vacations),
    Rule(
        code="late_end_offline",
        source=SRC_NON_SUBJECT,
        check=_ends_after(OFFLINE_END, "late_end_offline", "offline", SRC_NON_SUBJECT),
    ),
    Rule(
        code="late_end_online",
        source=SRC_DOUBLE_REDUCTION,
        check=_ends_after(ONLINE_END, "late_end_online", "online", SRC_DOUBLE_REDUCTION),
    ),
    Rule(code="online_lesson_too_long", source=SRC_DOUBLE_REDUCTION, check=rule_online_length),
    Rule(code="online_break_too_short", source=SRC_DOUBLE_REDUCTION, check=rule_online_breaks),
    Rule(code="preschool", source=SRC_DOUBLE_REDUCTION, check=rule_preschool),
]


@dataclass(frozen=True, kw_only=True)
class Verdict:
    status: str  # approved | rejected
    violations: list[Violation]
    price_check: dict[str, Any]


def check(f: Filing, ctx: Context) -> Verdict:
    violations = [v for rule in RULES for v in rule.check(f, ctx)]
    return Verdict(
        status="rejected" if violations else "approved",
        violations=violations,
        price_check=price_check(f, ctx),
    )
