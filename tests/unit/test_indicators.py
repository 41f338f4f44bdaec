"""Each risk indicator firing and not firing at its threshold, and the level floors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from service.kit.clock import local_date
from service.policy import knobs
from service.policy.knobs import RiskConfig
from service.risk.facts import Day, Facts
from service.risk.indicators import INDICATORS, Context, Peers
from service.risk.scoring import judge, level_of
from service.risk.sweep import evaluate

AS_OF = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
CFG = RiskConfig()
D = Decimal


def facts(**over) -> Facts:
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


def ev(*ids: str, ago: timedelta = timedelta(hours=1)) -> list[tuple[str, datetime]]:
    """Evidence dated `ago` before as_of."""
    return [(i, AS_OF - ago) for i in ids]


def ev_aged(*ids: str) -> list[tuple[str, datetime]]:
    """Unmatched cash received eight days before as_of (past the 7-day mark)."""
    return ev(*ids, ago=timedelta(days=8))


def ctx(rates: dict[str, Decimal] | None = None) -> Context:
    return Context(as_of=AS_OF, region_refund_rate=rates or {})


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
    surge = INDICATORS["prepay_surge"](facts(days=deposits("1500", "500")), ctx(), CFG)
    assert surge is not None and (surge.value, surge.contribution) == ("3.00", 20)
    assert not fired("prepay_surge", facts(days=deposits("1499", "500")))  # 2.998×
    assert not fired("prepay_surge", facts(days=deposits("1400", "400")))  # 3.5× but only 19,600


def test_a_surge_alone_is_a_question_not_an_answer() -> None:
    """5× at full price: medium at most. With deep discounts: high."""
    alone = evaluate(facts(days=deposits("2500", "500")), ctx(), CFG)
    assert alone.level == "medium" and alone.score == 30
    days = deposits("2500", "500") | {day(1): Day(deposits_amount=D("2500"), enrollments_paid=10)}
    cut = facts(days=days, discounted={(30, D("0.7")): 5})
    assert evaluate(cut, ctx(), CFG).level == "high"


def test_a_term_start_everyone_shares_is_no_surge() -> None:
    """10× its own trailing fortnight, as the city's subject schools all are at term start."""
    f = facts(days=deposits("5000", "500"))
    assert fired("prepay_surge", f)
    peers = Context(
        as_of=AS_OF,
        region_refund_rate={},
        peer_surge={("2201", "subject"): Peers(median=D("8"), count=12)},
    )
    assert not fired("prepay_surge", f, peers)
    few = Context(
        as_of=AS_OF,
        region_refund_rate={},
        peer_surge={("2201", "subject"): Peers(median=D("8"), count=4)},
    )  # too few to judge by
    assert fired("prepay_surge", f, few)
    arts = Context(
        as_of=AS_OF,
        region_refund_rate={},
        peer_surge={("2201", "non_subject"): Peers(median=D("8"), count=12)},
    )  # not its kind
    assert fired("prepay_surge", f, arts)


def test_a_surge_like_last_years_is_the_season() -> None:
    f = facts(days=deposits("5000", "500"), last_year={14: D("60000")})
    assert not fired("prepay_surge", f)  # 70,000 against 60,000 the same weeks a year ago
    assert fired("prepay_surge", facts(days=deposits("5000", "500"), last_year={14: D("9000")}))


def test_money_collected_far_ahead_adds_to_a_surge() -> None:
    f = facts(days=deposits("2500", "500"), ahead={(14, 45): (D("1000"), D("600"))})
    ind = INDICATORS["prepay_surge"](f, ctx(), CFG)
    assert ind is not None and ind.contribution == 40 and "60.00%" in (ind.note or "")


def test_prepay_surge_needs_history() -> None:
    """No baseline, or a history too short: said, and weighed nothing."""
    ind = INDICATORS["prepay_surge"](
        facts(days={day(1): Day(deposits_amount=D("90000"))}), ctx(), CFG
    )
    assert ind is not None and ind.contribution == 0 and "nothing collected" in (ind.note or "")
    young = facts(days=deposits("5000", "500"), created_at=AS_OF - timedelta(days=30))
    ind = INDICATORS["prepay_surge"](young, ctx(), CFG)
    assert ind is not None and ind.contribution == 0 and "30 days of history" in (ind.note or "")


def test_a_short_history_is_judged_on_what_it_has() -> None:
    """Sixty days of history: the 46 before the window are the baseline."""
    f = facts(days=deposits("1500", "500"), created_at=AS_OF - timedelta(days=60))
    ind = INDICATORS["prepay_surge"](f, ctx(), CFG)
    assert ind is not None and ind.value == "3.00" and ind.contribution == 20


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
    """Unmatched cash or one parent's word: medium; more of either: high."""
    assert not fired("off_platform", facts())
    assert evaluate(facts(suspense=ev_aged("dep_1")), ctx(), CFG).level == "medium"
    assert evaluate(facts(off_platform_complaints=ev("cmp_1")), ctx(), CFG).level == "medium"
    two = facts(off_platform_complaints=ev("cmp_1", "cmp_2"))
    assert evaluate(two, ctx(), CFG).level == "high"
    cash = facts(suspense=ev_aged("d1", "d2", "d3", "d4"))
    assert evaluate(cash, ctx(), CFG).level == "high"


def test_consumption_pace() -> None:
    """A make-up lesson is no alarm; lessons claimed ahead on many enrollments are."""
    assert not fired("consumption_pace", facts())
    assert evaluate(facts(pace_violations=ev("con_1")), ctx(), CFG).level == "low"
    many = facts(pace_violations=ev("con_1", "con_2", "con_3"))
    assert evaluate(many, ctx(), CFG).level == "high"


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


def complained(recent: int, trailing: int, *, parents: int | None = None) -> Facts:
    """`recent` complaints a day before as_of and `trailing` 40 days before, filed by
    `parents` enrollments in turn (None: each by another parent)."""
    dated = ev(*(f"cmp_r{i}" for i in range(recent)), ago=timedelta(days=1))
    dated += ev(*(f"cmp_t{i}" for i in range(trailing)), ago=timedelta(days=40))
    who = {cid: f"enr_{n % parents}" for n, (cid, _) in enumerate(dated)} if parents else {}
    return facts(complaints=dated, complainant=who)


def test_complaint_surge() -> None:
    assert not fired("complaint_surge", complained(2, 0))  # fewer than 3
    assert fired("complaint_surge", complained(3, 0))
    # Baseline: 6 in 90 days → 0.93 per fortnight; 3 recent is 3.2×.
    assert fired("complaint_surge", complained(3, 6))
    assert not fired("complaint_surge", complained(3, 7))  # 7 → 1.09 per fortnight, 2.75×


def test_one_parents_flood_is_one_voice() -> None:
    """Issue 31, finding 2: 60 complaints from one enrollment took a school from score 0 to
    55. The signals count parents (enrollments), not rows: one parent's 60 is one, below the
    three a surge needs; three parents' 60 is three. Asked to pay off the platform, one
    parent's ten complaints are one parent's word (medium), not ten (high)."""
    flood = complained(60, 0, parents=1)
    assert not fired("complaint_surge", flood)
    assert evaluate(flood, ctx(), CFG).score == 0
    assert fired("complaint_surge", complained(60, 0, parents=3))
    said = facts(off_platform_complaints=ev(*(f"cmp_{i}" for i in range(10))),
                 complainant={f"cmp_{i}": "enr_1" for i in range(10)})  # fmt: skip
    assert evaluate(said, ctx(), CFG).level == "medium"


def test_statement_missing() -> None:
    """Counted in working days, today's statement not yet due. 2026-11-22 is a Sunday."""
    silent = lambda last: facts(last_statement_date=last)  # noqa: E731
    assert not fired("statement_missing", silent(date(2026, 11, 18)))  # Thu, Fri: 2
    ind = INDICATORS["statement_missing"](silent(date(2026, 11, 17)), ctx(), CFG)
    assert ind is not None and (ind.value, ind.contribution, ind.floor) == ("3", 10, None)
    assert not fired("statement_missing", facts(last_statement_date=None, ever_deposited=False))


def test_a_bank_silent_over_a_weekend_is_not_silent() -> None:
    friday = facts(last_statement_date=date(2026, 11, 20))
    monday = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 Monday, Beijing
    assert (
        INDICATORS["statement_missing"](friday, Context(as_of=monday, region_refund_rate={}), CFG)
        is None
    )


def test_silence_escalates_with_its_length() -> None:
    weights = []
    for last in (date(2026, 11, 17), date(2026, 11, 12), date(2026, 11, 5), date(2026, 10, 20)):
        ind = INDICATORS["statement_missing"](facts(last_statement_date=last), ctx(), CFG)
        assert ind is not None
        weights.append((int(ind.value), ind.contribution, ind.floor))
    assert weights == [(3, 10, None), (6, 19, None), (11, 34, "high"), (23, 40, "high")]


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


def test_registry_changes_add_up() -> None:
    """A change of legal person counts twice: one is low; one and a move medium; two of them
    and a move within 90 days high."""
    one = facts(registry_changes=ev("c1"), legal_person_changes=ev("c1"))
    assert evaluate(one, ctx(), CFG).score == 20
    two = facts(registry_changes=ev("c1", "c2"), legal_person_changes=ev("c1"))
    assert evaluate(two, ctx(), CFG).level == "medium"
    three = facts(registry_changes=ev("c1", "c2", "c3"), legal_person_changes=ev("c1", "c3"))
    v = evaluate(three, ctx(), CFG)
    assert (v.score, v.level) == (40, "high")


def test_refund_disputes() -> None:
    def answers(disputed: int, accepted: int) -> Facts:
        ids = [f"r{n}" for n in range(disputed + accepted)]
        return facts(refund_disputes=ev(*ids[:disputed]), refund_answers=ev(*ids))

    assert not fired("refund_disputes", answers(3, 0))  # fewer than 4
    assert not fired("refund_disputes", answers(4, 4))  # half contested: a chain's bad month
    assert evaluate(answers(4, 2), ctx(), CFG).level == "medium"
    assert evaluate(answers(8, 1), ctx(), CFG).level == "high"


def test_lesson_disputes() -> None:
    def disputed(n: int, reported: int) -> Facts:
        at = AS_OF - timedelta(days=2)
        return facts(lesson_disputes=[(f"c{i}", at, 1) for i in range(n)],
                     days={day(2): Day(lessons_consumed=reported)})  # fmt: skip

    assert not fired("lesson_disputes", disputed(3, 40))  # 7.5% of the lessons
    assert evaluate(disputed(3, 20), ctx(), CFG).level == "medium"  # 3 of at least 30
    assert evaluate(disputed(6, 12), ctx(), CFG).level == "medium"  # a quiet month: 6 of 30
    assert evaluate(disputed(10, 12), ctx(), CFG).level == "high"


def test_refunds_answered_on_time_weigh_little() -> None:
    days = {day(2): Day(refund_requests=10)}
    on_time = facts(days=days, active_enrollments=100)
    rates = ctx({"2201": D("0.01")})
    prompt = INDICATORS["refund_velocity"](on_time, rates, CFG)
    assert prompt is not None and prompt.contribution == 10
    late = facts(days=days, active_enrollments=100, unprompt_requests=ev("r1"))
    slow = INDICATORS["refund_velocity"](late, rates, CFG)
    assert slow is not None and slow.contribution == 30 and slow.evidence == ["r1"]
    closing = facts(days=days, active_enrollments=100, closure_announced_at=AS_OF)
    wind_down = INDICATORS["refund_velocity"](closing, rates, CFG)
    assert wind_down is not None and wind_down.contribution == 0


def test_a_closure_not_kept() -> None:
    """Parents still owed fifteen days after the closure took effect: high."""

    def closed(days_ago: int, owed: str) -> Facts:
        return facts(closing_on=local_date(AS_OF) - timedelta(days=days_ago),
                     closure_announced_at=AS_OF - timedelta(days=60),
                     prepaid_outstanding=D(owed))  # fmt: skip

    assert not fired("closure_default", closed(14, "100"))
    assert not fired("closure_default", closed(20, "0"))
    assert evaluate(closed(15, "100"), ctx(), CFG).level == "high"
    stalled = closed(-10, "100")  # still teaching out its notice: a stall is expected
    stalled.stall = {14: (5, AS_OF - timedelta(days=8))}
    assert not fired("consumption_stall", stalled)


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
    f = facts(last_statement_date=date(2026, 11, 19))  # Friday the 20th: one working day
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


def test_bank_warning_on_the_packs_amounts() -> None:
    """Hangzhou's bank warnings: the day's, the week's withdrawals, the balance."""
    from service.policy.rules import BankWarnings

    rule = BankWarnings(daily_withdrawals=D("100"), weekly_withdrawals=D("300"),
                        minimum_balance=D("50"))  # fmt: skip
    at = ctx().as_of
    drawn = [("i1", at - timedelta(days=3), D("90")), ("i2", at - timedelta(days=1), D("90")),
             ("i3", at - timedelta(minutes=1), D("90")), ("i4", at - timedelta(days=8), D("999"))]  # fmt: skip
    assert not fired("bank_warning", facts(withdrawals=drawn))  # no pack warns: nothing
    assert not fired("bank_warning", facts(bank_warnings=rule, withdrawals=drawn))
    over_day = [*drawn, ("i5", at - timedelta(minutes=2), D("11"))]
    ind = INDICATORS["bank_warning"](facts(bank_warnings=rule, withdrawals=over_day), ctx(), CFG)
    assert ind is not None and (ind.value, ind.threshold) == ("101.00", "100.00")
    assert ind.evidence == ["i3", "i5"]  # the day's; the week (281.00) stays under 300
    low = facts(bank_warnings=rule, withdrawals=drawn, escrow_balance=D("49.99"))
    assert fired("bank_warning", low)
