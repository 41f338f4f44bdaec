"""Issue 35: the quiet failures (slow bleeds, professional closers, chains, walkouts) and
their look-alikes (a holiday's slower answers, a fair launch offer, an honest closure of one
campus, a city's classes suspended by order), judged indicator by indicator and as a verdict."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from service.policy.knobs import RiskConfig
from service.risk import chains
from service.risk.facts import Facts, _working_days
from service.risk.indicators import INDICATORS, Context, Indicator, Peers, Sibling
from service.risk.scoring import judge
from service.risk.sweep import evaluate
from tests.unit.test_knobs import (
    AS_OF,
    asked_off_platform_falling,
    base,
    bleeding,
    delivered,
    disputed_in_waves,
    latency,
    renewal,
    sibling,
    trend,
    young,
)

D = Decimal
CFG = RiskConfig()
CITY = "2201"


def ctx(**over: Any) -> Context:
    peers: dict[str, Any] = {
        "peer_latency": {CITY: Peers(median=D("1"), count=20)},
        "peer_renewal": {(CITY, "subject"): Peers(median=D("1"), count=20)},
        "peer_package": {CITY: Peers(median=D("25"), count=20)},
        "peer_delivery": {CITY: Peers(median=D("0.95"), count=20)},
    }
    return Context(as_of=AS_OF, region_refund_rate={}, **{**peers, **over})


def fired(code: str, f: Facts, c: Context | None = None) -> Indicator | None:
    return INDICATORS[code](f, c or ctx(), CFG)


def test_answers_later_and_later_are_a_trend_not_a_level() -> None:
    slow = fired("refund_latency", latency([3, 4, 4, 4], [1, 1, 1, 1]))
    assert slow is not None and slow.contribution == 30 and "peers" in (slow.note or "")
    assert fired("refund_latency", latency([1, 1, 2, 1], [1, 1, 1, 1])) is None
    # as slow as it always was: its own past, not a trend
    assert fired("refund_latency", latency([3, 3, 3, 3], [3, 3, 3, 3])) is None


def test_a_holiday_is_not_slowness() -> None:
    """National Day: asked on 30 September, answered on 8 October is a working day or two."""
    asked = datetime(2026, 9, 30, 3, tzinfo=UTC)
    answered = datetime(2026, 10, 8, 3, tzinfo=UTC)
    assert _working_days(asked, answered) <= 2
    assert (answered - asked).days == 8


def test_a_slowing_the_whole_city_shares_is_not_one_schools() -> None:
    f = latency([3, 4, 4, 4], [1, 1, 1, 1])
    assert (
        fired("refund_latency", f, ctx(peer_latency={CITY: Peers(median=D("3"), count=20)})) is None
    )
    assert fired("refund_latency", f, ctx(peer_latency={})) is None  # no peers: not judged


def test_the_contested_share_rising() -> None:
    assert fired("dispute_trend", trend(2, 5, past=(0, 8))) is not None
    assert fired("dispute_trend", trend(2, 5, past=(4, 8))) is None  # it always contested


def test_new_money_falling_while_peers_keep_their_pace() -> None:
    f = renewal("300", "1000")
    assert fired("renewal_decline", f) is not None
    summer = ctx(peer_renewal={(CITY, "subject"): Peers(median=D("0.2"), count=20)})
    assert fired("renewal_decline", f, summer) is None
    assert fired("renewal_decline", renewal("900", "1000")) is None


def test_the_professional_closer_is_high_the_fair_launch_medium() -> None:
    closer, launch = young(units=3), young()
    c = ctx()
    v = judge([i for code in ("deep_discount", "young_school") if (i := fired(code, closer, c))])
    assert v.level == "high"
    note = fired("young_school", closer, c).note or ""  # type: ignore[union-attr]
    assert note.startswith("licensed 1 months ago") and "packages of 60.00 lessons" in note
    w = judge([i for code in ("deep_discount", "young_school") if (i := fired(code, launch, c))])
    assert w.level == "medium"
    old = young(units=3)
    old.created_at = AS_OF - timedelta(days=400)
    assert fired("young_school", old, c) is None


def test_a_young_honest_school_weighs_nothing() -> None:
    assert fired("young_school", base(created_at=AS_OF - timedelta(days=45))) is None


def test_classes_cancelled_in_waves() -> None:
    third, half, most = delivered(27, 40), delivered(20, 40), delivered(8, 40)
    assert fired("delivery_share", third) is None
    assert fired("delivery_share", half).contribution == 20  # type: ignore[union-attr]
    strong = fired("delivery_share", most)
    assert strong is not None and strong.floor == "high"


def test_a_suspension_by_order_is_one_notice_not_a_hundred_cases() -> None:
    suspended = ctx(peer_delivery={CITY: Peers(median=D("0.1"), count=20)})
    assert fired("delivery_share", delivered(4, 40), suspended) is None


def test_a_sibling_weighs_with_the_campus_own_signs() -> None:
    chain = {"S": [Sibling(institution_id="inst_y", codes=("escrow_shortfall",), level="critical")]}
    alone = fired("chain_sibling", sibling(0), ctx(chain=chain))
    signs = fired("chain_sibling", sibling(20), ctx(chain=chain))
    assert (
        alone is not None and alone.contribution == 15 and "inst_y critical" in (alone.note or "")
    )
    assert signs is not None and signs.contribution == 40
    assert fired("chain_sibling", base(sponsor="T"), ctx(chain=chain)) is None
    # itself is not its own sibling
    me = base(sponsor="S", institution_id="inst_y")
    assert fired("chain_sibling", me, ctx(chain=chain)) is None


def test_an_honest_closure_is_no_hard_signal() -> None:
    """A closure refunded in full carries no hard indicator; one not refunded does."""
    honest = evaluate(base(closing_on=date(2026, 11, 1)), ctx(), CFG)
    assert chains.hard_codes(honest.indicators) == ()
    defaulted = base(closing_on=date(2026, 10, 1), closure_announced_at=AS_OF - timedelta(days=80),
                     prepaid_outstanding=D("100"))  # fmt: skip
    assert chains.hard_codes(evaluate(defaulted, ctx(), CFG).indicators) == ("closure_default",)
    one_late = evaluate(base(overdue_refunds=[("r", AS_OF)]), ctx(), CFG)
    assert chains.hard_codes(one_late.indicators) == ()  # one late answer: medium, not hard


def test_evaluate_weighs_the_sibling_after_the_others() -> None:
    chain = {"S": [Sibling(institution_id="inst_y", codes=("escrow_shortfall",), level="critical")]}
    f = latency([2, 3, 2, 3], [1, 1, 1, 1])
    f.sponsor = "S"
    v = evaluate(f, ctx(chain=chain), CFG)
    assert {i.code for i in v.indicators} == {"refund_latency", "chain_sibling"}
    assert v.score == 65 and v.level == "high"  # latency 25, the sibling with signs 40


def test_no_lessons_reported_yet_is_no_evidence() -> None:
    """A school that has reported no lessons before the window (a timetable never kept, as
    a quarter of bench/sweep.py's generated schools) is not judged on its share: nothing to
    fall from. One that was delivering and now delivers a tenth is."""
    never = delivered(0, 40, before=0)
    assert fired("delivery_share", never) is None
    assert fired("delivery_share", delivered(0, 40, before=19)) is None  # under min_reported
    fell = fired("delivery_share", delivered(4, 40, before=40))
    assert fell is not None and fell.floor == "high" and "40 lessons reported" in (fell.note or "")
    assert evaluate(never, ctx(), CFG).level == "low"


def test_a_strong_share_needs_enough_sessions_expected() -> None:
    """Under `strong_min_sessions` scheduled, a low share is a medium sign, never a floor."""
    few = fired("delivery_share", delivered(2, 25))
    assert few is not None and few.floor is None and few.contribution == 20
    many = fired("delivery_share", delivered(4, 40))
    assert many is not None and many.floor == "high" and many.contribution == 35


def test_the_peers_median_leaves_out_schools_with_no_evidence() -> None:
    """The city's median delivery is taken over the schools whose share says something: a
    quarter of schools reporting nothing does not drag it under the systemic floor."""
    from service.risk.indicators import delivery_ratio

    assert delivery_ratio(delivered(0, 40, before=0), AS_OF, CFG.delivery_share) is None
    assert delivery_ratio(delivered(36, 40), AS_OF, CFG.delivery_share) == D("0.9")


def test_a_slow_bleed_is_judged_against_peers_not_its_own_slowing_past() -> None:
    """Answers slowing over months (1, then 2, then 3 working days): the 60 days before are
    already slower, so against them today is no 'twice'; against the city's peers it is,
    and the past (2.0) is short of the present (3.25): a trend, not a habit."""
    bleed = fired("refund_latency", latency([3, 3, 4, 3], [2, 2, 2, 2]))
    assert bleed is not None and bleed.threshold == "2.00" and bleed.contribution == 30
    assert "before 2.00" in (bleed.note or "")
    habit = fired("refund_latency", latency([3, 3, 4, 3], [3, 3, 3, 4]))
    assert habit is None


def test_a_contested_share_rising_over_months_is_a_trend() -> None:
    """Contested 1 in 4 before, 3 in 5 now: rising, though not twice its own past share
    would have asked for 0.5 only; contested as much before is its habit."""
    rising = fired("dispute_trend", trend(3, 5, past=(1, 4)))
    assert rising is not None and rising.threshold == "0.20"
    assert fired("dispute_trend", trend(3, 5, past=(3, 5))) is None
    assert fired("dispute_trend", trend(1, 5)) is None  # one contested: under min_count


def test_one_contested_among_a_closing_schools_many_refunds_weighs_nothing() -> None:
    """An honest closure answers sixty requests on time and contests one (a chain's campus
    that closes and refunds everyone): still the closure's refunds, answered on time. A
    school contesting a third of them is not."""
    from tests.unit.test_knobs import refunds

    closing = refunds(60)
    closing.closure_announced_at = AS_OF - timedelta(days=10)
    closing.unprompt_requests = [("r1", AS_OF - timedelta(days=1))]
    v = fired("refund_velocity", closing)
    assert v is not None and v.contribution == 0 and "1 of 60" in (v.note or "")
    closing.unprompt_requests = [(f"r{i}", AS_OF - timedelta(days=1)) for i in range(20)]
    v = fired("refund_velocity", closing)
    assert v is not None and v.contribution == 30


def test_a_camps_last_weeks_are_not_cancelled_classes() -> None:
    """A summer camp's schedule falling away (35 sessions in the lagged window, 12 in the
    window itself, all 10 reported): what was never bought was not cancelled. A walkout's
    schedule stays (40 and 40) while a tenth is reported."""
    camp = delivered(10, 35)
    camp.stall = {14: (12, AS_OF - timedelta(days=13))}
    assert fired("delivery_share", camp) is None
    walkout = delivered(4, 40)
    walkout.stall = {14: (40, AS_OF - timedelta(days=13))}
    strong = fired("delivery_share", walkout)
    assert strong is not None and strong.floor == "high"
    rising = delivered(30, 40)  # a term starting: the lagged window has fewer
    rising.stall = {14: (80, AS_OF - timedelta(days=13))}
    assert fired("delivery_share", rising) is None


def test_half_the_classes_cancelled_and_parents_saying_so_is_high() -> None:
    """A walkout's middle wave: half the sessions delivered is a medium sign alone; with two
    parents complaining that teaching stopped it is the strong form, their complaints its
    evidence. One parent's complaints, however many, are one voice."""
    half = delivered(20, 40)
    assert fired("delivery_share", half).contribution == 20  # type: ignore[union-attr]
    half.teaching_complaints = [
        ("c1", AS_OF - timedelta(days=3)),
        ("c2", AS_OF - timedelta(days=20)),
    ]
    strong = fired("delivery_share", half)
    assert strong is not None and strong.floor == "high" and strong.evidence == ["c1", "c2"]
    assert "2 parents complained" in (strong.note or "")
    half.complainant = {"c1": "enr_1", "c2": "enr_1"}
    assert fired("delivery_share", half).floor is None  # type: ignore[union-attr]
    full = delivered(38, 40)  # complaints where classes are held: not this indicator's
    full.teaching_complaints = [("c1", AS_OF), ("c2", AS_OF)]
    assert fired("delivery_share", full) is None


def test_a_closure_whose_only_debt_is_a_contested_refund_is_kept() -> None:
    """An honest chain's closed campus still 'owes' 475.00 of one refund it contested, the
    regulator yet to decide: no closure_default (so no hard signal at its siblings); owing
    more than what is contested is."""
    closed = date(2026, 10, 1)
    f = base(closing_on=closed, closure_announced_at=AS_OF - timedelta(days=80),
             prepaid_outstanding=D("475.00"), contested_owed=D("475.00"))  # fmt: skip
    assert fired("closure_default", f) is None
    assert chains.hard_codes(evaluate(f, ctx(), CFG).indicators) == ()
    f.prepaid_outstanding = D("975.00")
    kept = fired("closure_default", f)
    assert kept is not None and "475.00 of it under contested refunds" in (kept.note or "")


def test_contested_in_bulk_is_not_counted_twice() -> None:
    """Four of six answers contested this month is refund_disputes' (30, medium); the
    trend of the same answers does not add to it. Two of five, rising, is the trend's."""
    bulk = trend(4, 6, past=(0, 0))
    assert fired("refund_disputes", bulk) is not None
    assert fired("dispute_trend", bulk) is None
    assert evaluate(bulk, ctx(), CFG).level == "medium"
    assert fired("dispute_trend", trend(2, 5, past=(0, 8))) is not None


def test_half_the_answers_contested_against_a_past_of_its_own_is_strong() -> None:
    """Half of the answers contested (five times the ordinary share) weighs 30, so that with
    a second sign of 20 (refunds asked three times as fast, complaints surging) it is `high`;
    40% weighs 25. A school newer than the window and its baseline has no past to rise from:
    its half of two answers weighs the ordinary 25."""
    half = fired("dispute_trend", trend(3, 6, past=(0, 8)))
    assert half is not None and half.contribution == 30
    forty = fired("dispute_trend", trend(2, 5, past=(0, 8)))
    assert forty is not None and forty.contribution == 25
    new = trend(3, 6, past=(0, 0))
    new.created_at = AS_OF - timedelta(days=40)
    young = fired("dispute_trend", new)
    assert young is not None and young.contribution == 25


def test_a_sibling_at_high_on_its_own_soft_signs_weighs_less() -> None:
    """A campus at `high` on its trends (no hard signal) is evidence at its siblings: 10
    alone, 25 with a sign of their own (a trend here and the sibling's: `high`), and the note
    says it is the sibling's own signs."""
    soft = {"S": [Sibling(institution_id="inst_y", codes=("dispute_trend", "refund_velocity"),
                          level="high", hard=False)]}  # fmt: skip
    alone = fired("chain_sibling", sibling(0), ctx(chain=soft))
    signs = fired("chain_sibling", sibling(25), ctx(chain=soft))
    assert alone is not None and alone.contribution == 10
    assert signs is not None and signs.contribution == 25
    assert "its own signs, no hard signal" in (signs.note or "")
    # a hard sibling beside it weighs as hard
    both = {"S": [*soft["S"], Sibling(institution_id="inst_w", codes=("escrow_shortfall",),
                                      level="critical")]}  # fmt: skip
    hard = fired("chain_sibling", sibling(25), ctx(chain=both))
    assert hard is not None and hard.contribution == 40


def test_a_campus_high_on_its_own_signs_is_a_soft_sibling_one_high_by_its_sibling_is_not() -> None:
    f = latency([2, 3, 2, 3], [1, 1, 1, 1])  # refund_latency 25
    f.refund_answers = trend(3, 6, past=(0, 8)).refund_answers
    f.refund_disputes = trend(3, 6, past=(0, 8)).refund_disputes  # dispute_trend 30
    v = evaluate(f, ctx(), CFG)
    assert v.level == "high"
    sib = chains._sibling("inst_x", v.level, v.indicators)
    assert sib is not None and not sib.hard
    assert set(sib.codes) == {"refund_latency", "dispute_trend"}
    # As kept with an evaluation (a sibling outside the sweep): the same.
    kept = chains._sibling("inst_x", v.level, [i.record() for i in v.indicators])
    assert kept == sib
    # `high` only because of its own sibling: no evidence for the others (no loop).
    lone = latency([2, 3, 2, 3], [1, 1, 1, 1])
    lone.sponsor = "S"
    hard = {"S": [Sibling(institution_id="inst_y", codes=("escrow_shortfall",), level="critical")]}
    w = evaluate(lone, ctx(chain=hard), CFG)
    assert w.level == "high" and chains._sibling("inst_x", w.level, w.indicators) is None


def test_new_money_falling_beside_a_second_trend_is_high() -> None:
    """Renewals thinning alone weigh 15 (a medium with any other sign); beside refunds answered
    later and later, or more of them contested (the slow bleed's other trends), 25: two trends
    together are `high`, and the note says which."""
    alone = fired("renewal_decline", renewal("100", "1000"))
    assert alone is not None and alone.contribution == 15
    both = fired("renewal_decline", bleeding())
    assert both is not None and both.contribution == 25
    assert "with refund_latency" in (both.note or "")
    assert evaluate(bleeding(), ctx(), CFG).level == "high"


def test_lessons_disputed_in_waves_are_strong_before_the_month_says_so() -> None:
    """Teaching stopped a fortnight ago: 40% of the fortnight's lessons disputed, 20% of the
    month's. The month's share alone is a medium; the fortnight's is `high`, and says so."""
    waves = fired("lesson_disputes", disputed_in_waves())
    assert waves is not None and waves.floor == "high" and waves.value == "0.20"
    assert "32 of 80 in the last 14 days" in (waves.note or "")
    spread = disputed_in_waves()  # the same disputes over the month: no wave
    spread.lesson_disputes = [(i, AS_OF - timedelta(days=2 + 7 * (n % 4)), 2)
                              for n, (i, _, _) in enumerate(spread.lesson_disputes)]  # fmt: skip
    month = fired("lesson_disputes", spread)
    assert month is not None and month.floor == "medium"


def test_a_parent_asked_to_pay_elsewhere_while_new_money_falls_is_high() -> None:
    """One parent's word is a medium, new money falling alone a medium sign; together the
    money is going where the parent was asked to pay: `high`, the note says why."""
    both = asked_off_platform_falling()
    said = fired("off_platform", both)
    assert said is not None and said.floor == "high" and "new money falling" in (said.note or "")
    assert evaluate(both, ctx(), CFG).level == "high"
    steady = base(off_platform_complaints=both.off_platform_complaints)
    assert evaluate(steady, ctx(), CFG).level == "medium"
    everyone = ctx(peer_renewal={(CITY, "subject"): Peers(median=D("0.1"), count=20)})
    assert evaluate(both, everyone, CFG).level == "medium"  # the whole city's money fell
    # After a term's start everyone had (the peers at 0.5 of their pace, under the trend's
    # floor), at a fifth of the peers' pace it is still falling against them.
    season = ctx(peer_renewal={(CITY, "subject"): Peers(median=D("0.5"), count=20)})
    assert fired("renewal_decline", both, season) is None
    assert evaluate(both, season, CFG).level == "high"
    cash = renewal_with(suspense_days_ago=10)
    assert fired("off_platform", cash).floor is None  # type: ignore[union-attr]


def renewal_with(suspense_days_ago: float) -> Facts:
    """New money falling, and one payment unmatched (a unit: a parent's typo looks the same)."""
    f = asked_off_platform_falling()
    f.off_platform_complaints = []
    f.suspense = [("dep", AS_OF - timedelta(days=suspense_days_ago))]
    return f
