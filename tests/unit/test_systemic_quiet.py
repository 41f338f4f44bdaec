"""Quiet where it should be quiet (issue 35): a district's classes resuming after a suspension
by order, and a bank silent for many schools at once, are systemic events, one notice each in
the sweep's record (`systemic_events`), not a case at each school. What the held-back seeds
showed: a healthy school of the suspended district at 58% of 600 sessions, two parents saying
teaching stopped, `high` the week classes resumed; a fair launch `high` by the bank's silence
on the shock's third working day."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from service.policy.knobs import RiskConfig
from service.risk.facts import Facts
from service.risk.indicators import INDICATORS, Context, Indicator, Peers
from service.risk.scoring import rank
from service.risk.sweep import _context, evaluate, silent_banks, systemic_events
from tests.unit.test_knobs import AS_OF, base, delivered, ev, young

D = Decimal
CFG = RiskConfig()
CITY = "2201"


def ctx(district: str = "0.65", city: str = "1.0", **over: Any) -> Context:
    """The city teaching as filed; the school's district (220102) delivering `district` of its
    timetable together: classes resumed after an order, the windows still holding it."""
    return Context(
        as_of=AS_OF, region_refund_rate={},
        peer_delivery={CITY: Peers(median=D(city), count=40)},
        district_delivery={"220102": Peers(median=D(district), count=10)}, **over,
    )  # fmt: skip


def fired(code: str, f: Facts, c: Context) -> Indicator | None:
    return INDICATORS[code](f, c, CFG)


def resuming_school(lessons: int = 348, scheduled: int = 600, said: int = 2) -> Facts:
    """A large healthy school of the district: 58% of 600 sessions delivered, 600 reported in
    the 28 days before, `said` parents (no enrollment named) complaining that teaching stopped
    a few days ago."""
    f = delivered(lessons, scheduled, before=600)
    complaints = [f"cmp_t{i}" for i in range(said)]
    f.teaching_complaints = ev(*complaints, days_ago=4)
    f.complaints = list(f.teaching_complaints)
    return f


def test_a_school_as_short_as_its_resuming_district_is_not_high() -> None:
    f = resuming_school()
    assert fired("delivery_share", f, ctx()) is None  # 58% where the district delivers 65%
    v = evaluate(f, ctx(), CFG)
    assert v.level == "low", v


def test_without_the_district_beside_it_the_same_school_was_high() -> None:
    """What the check answers: judged against the city alone, the same facts were `high` (the
    strong form, corroborated by the suspension's complaints)."""
    blind = ctx(district="1.0")
    ind = fired("delivery_share", resuming_school(), blind)
    assert ind is not None and ind.floor == "high"
    assert rank(evaluate(resuming_school(), blind, CFG).level) >= rank("high")


def test_a_walkout_in_a_resuming_district_is_still_seen() -> None:
    """Judged against what the district delivered, a school delivering a fifth of its
    timetable where the district delivers 65% is far short: strong, `high`."""
    ind = fired("delivery_share", resuming_school(lessons=120, said=0), ctx())
    assert ind is not None and ind.floor == "high" and ind.value == "0.31"
    assert ind.note is not None and "place's schools delivering 65.00% together" in ind.note


def test_a_district_teaching_as_filed_judges_the_school_as_before() -> None:
    """Districts at 90% and over (`normal_share`) teach as filed: nothing changes there, and
    parents saying teaching stopped still corroborate."""
    ind = fired("delivery_share", resuming_school(lessons=300), ctx(district="0.95"))
    assert ind is not None and ind.floor == "high" and ind.value == "0.50"
    assert ind.evidence == ["cmp_t0", "cmp_t1"]


def test_complaints_that_teaching_stopped_in_a_resuming_district_are_the_districts() -> None:
    """Four complaints of teaching stopped in the fortnight and none before: a surge in a
    district teaching as filed; the district's own while it is short together. Other
    complaints still count."""
    f = resuming_school(said=4)
    assert fired("complaint_surge", f, ctx(district="1.0")) is not None
    assert fired("complaint_surge", f, ctx()) is None
    f.complaints += ev("cmp_o1", "cmp_o2", "cmp_o3", days_ago=2)
    surge = fired("complaint_surge", f, ctx())
    assert surge is not None and surge.evidence == ["cmp_o1", "cmp_o2", "cmp_o3"]


def test_a_small_district_is_judged_beside_its_city() -> None:
    """Under `min_peers` schools judged in the district, the city's share is what was
    possible (a city resuming as a whole)."""
    small = Context(
        as_of=AS_OF, region_refund_rate={},
        peer_delivery={CITY: Peers(median=D("0.65"), count=40)},
        district_delivery={"220102": Peers(median=D("1.0"), count=3)},
    )  # fmt: skip
    assert fired("delivery_share", resuming_school(), small) is None


# ---------------------------------------------------------------------- a bank's silence
LAST = date(2026, 11, 17)  # a Tuesday: Wednesday to Friday passed without a statement


def silent(n: int, bank: str | None = "bank_a", last: date = LAST) -> Facts:
    f = base(institution_id=f"inst_{bank}_{n}_{last}", bank_id=bank)
    f.last_statement_date = last
    return f


def test_a_bank_silent_for_many_weighs_nothing_at_each() -> None:
    """A third of the region (30 of 90) silent since the same bank day: one notice; the fair
    launch among them (a discount 30 and youth 10) stays `medium`."""
    facts = {f.institution_id: f for f in [silent(n) for n in range(30)]}
    facts |= {f"ok_{n}": base(institution_id=f"ok_{n}", bank_id="bank_a") for n in range(60)}
    launch = young()
    launch.bank_id, launch.last_statement_date = "bank_a", LAST
    facts[launch.institution_id] = launch
    c = _context(None, facts, {}, AS_OF, whole=True)  # type: ignore[arg-type]
    assert c.silent_banks == {("bank_a", LAST): 31}
    ind = fired("statement_missing", launch, c)
    assert ind is not None and ind.contribution == 0 and ind.floor is None
    assert ind.note is not None and "silent on 31 accounts" in ind.note
    assert evaluate(launch, c, CFG).level == "medium"
    events = [e for e in systemic_events(c, {}) if e["event"] == "statements_missing"]
    assert events == [{"event": "statements_missing", "bank_id": "bank_a",
                       "since": "2026-11-17", "institutions": 31}]  # fmt: skip
    assert all(evaluate(f, c, CFG).level == "low" for i, f in facts.items() if i != "inst_x")


def test_without_the_systemic_check_the_fair_launch_was_high() -> None:
    launch = young()
    launch.last_statement_date = LAST
    assert evaluate(launch, Context(as_of=AS_OF, region_refund_rate={}), CFG).level == "high"


def test_a_long_systemic_silence_sets_no_floor() -> None:
    """Eleven working days: alone, `high` by its floor; the bank's for many, one notice."""
    last = AS_OF.date() - timedelta(days=17)
    alone = fired("statement_missing", silent(0, last=last), Context(as_of=AS_OF,
                  region_refund_rate={}))  # fmt: skip
    assert alone is not None and alone.floor == "high"
    many = {f.institution_id: f for f in [silent(n, last=last) for n in range(6)]}
    c = Context(as_of=AS_OF, region_refund_rate={}, silent_banks=silent_banks(many, {}, AS_OF))
    ind = fired("statement_missing", silent(0, last=last), c)
    assert ind is not None and ind.floor is None and ind.contribution == 0


def test_one_schools_silence_is_still_its_own() -> None:
    """A bank silent on fewer than `systemic_schools` (5) accounts since a day, or silent on
    many since different days, or several banks each silent on few: each school's case."""
    facts = {f.institution_id: f for f in [silent(n) for n in range(4)]}
    facts |= {f.institution_id: f for f in
              [silent(n, last=LAST - timedelta(days=n + 1)) for n in range(6)]}  # fmt: skip
    facts |= {f.institution_id: f for f in [silent(n, bank=f"bank_{n}") for n in range(6)]}
    counts = silent_banks(facts, {}, AS_OF)
    assert max(counts.values()) == 4
    c = Context(as_of=AS_OF, region_refund_rate={}, silent_banks=counts)
    for f in facts.values():
        ind = fired("statement_missing", f, c)
        assert ind is not None and ind.contribution >= 10, f.institution_id
    assert systemic_events(c, {}) == []


def test_the_midday_jobs_sweep_of_the_silent_sees_the_bank_whole() -> None:
    """The midday job sweeps every silent school together (a sweep of a few): counted among
    those alone, the bank's silence is still one event."""
    few = {f.institution_id: f for f in [silent(n) for n in range(7)]}
    counts = silent_banks(few, {}, AS_OF)
    assert counts == {("bank_a", LAST): 7}
    c = Context(as_of=AS_OF, region_refund_rate={}, silent_banks=counts)
    assert [e["institutions"] for e in systemic_events(c, {})] == [7]
    assert {evaluate(f, c, CFG).level for f in few.values()} == {"low"}


def test_a_region_can_ask_for_more_schools_before_a_silence_is_systemic() -> None:
    cfg = RiskConfig.model_validate({"statement_missing": {"systemic_schools": 10}})
    few = {f.institution_id: f for f in [silent(n) for n in range(7)]}
    c = Context(as_of=AS_OF, region_refund_rate={}, silent_banks=silent_banks(few, {}, AS_OF))
    ind = INDICATORS["statement_missing"](few["inst_bank_a_0_2026-11-17"], c, cfg)
    assert ind is not None and ind.contribution == 10
    assert systemic_events(c, {"220102": cfg}) == []


def test_a_city_short_as_a_whole_still_hears_its_parents() -> None:
    """A holiday week leaves the whole city at 84% (`tune` 1 after National Day): a school at
    38% of 655 sessions with two parents saying teaching stopped is a walkout there, strong;
    only a district short while its city teaches (an order's aftermath) silences them."""
    f = resuming_school(lessons=250, scheduled=655, said=2)
    holiday = fired("delivery_share", f, ctx(district="0.84", city="0.84"))
    assert holiday is not None and holiday.floor == "high"
    assert holiday.evidence == ["cmp_t0", "cmp_t1"]
    order = fired("delivery_share", f, ctx(district="0.84"))
    assert order is not None and order.floor == "high"
    assert order.evidence == ["cmp_t0", "cmp_t1"]


def test_a_district_short_together_does_not_silence_a_school_short_of_it() -> None:
    """Found in review: a district under `normal_share` with its city teaching dropped every
    complaint that teaching stopped — a district at 80% (one operator's campuses can set its
    median) silenced a walkout at 35% with four parents saying so. A school short even of what
    its district delivered is heard; one as short as its district is not."""
    for district in ("0.8", "0.7", "0.6"):
        f = resuming_school(lessons=210, said=4)
        ind = fired("delivery_share", f, ctx(district=district))
        assert ind is not None and ind.floor == "high", district
        assert len(ind.evidence) == 4
        surge = fired("complaint_surge", f, ctx(district=district))
        assert surge is not None and len(surge.evidence) == 4, district
        assert rank(evaluate(f, ctx(district=district), CFG).level) >= rank("high")
