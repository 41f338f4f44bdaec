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
from tests.unit.test_knobs import AS_OF, base, delivered, latency, renewal, sibling, trend, young

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
    assert signs is not None and signs.contribution == 30
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
    assert v.score == 50 and v.level == "high"
