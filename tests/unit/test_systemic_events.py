"""A district's classes suspended by order (issue 35): one systemic event in the sweep's record,
not a case at each of the district's schools; a walkout elsewhere in the city is still judged.
And the simulator's suspension: the district's lessons of the window cancelled, the rest of
the history as it was without it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from service.policy.knobs import RiskConfig
from service.risk.facts import Day, Facts
from service.risk.scoring import rank
from service.risk.sweep import _context, evaluate, systemic_events
from tests.unit.test_knobs import AS_OF, base, day

CFG = RiskConfig()


def school(n: int, district: str, lessons: int) -> Facts:
    """A school with 40 sessions scheduled in the delivery window and in the stall window
    (the oldest 13 days ago), 40 lessons reported in the 28 days before the window (the
    timetable it has been keeping), and `lessons` reported over the last fortnight."""
    days = {day(d): Day(lessons_consumed=lessons // 7 + (d < lessons % 7)) for d in range(7)}
    days[day(20)] = Day(lessons_consumed=40)
    return base(
        institution_id=f"inst_{n}",
        region_code=district,
        scheduled={(14, 7): 40},
        stall={14: (40, AS_OF - timedelta(days=13))},
        days=days,
    )


def region(stopped: dict[str, int], walkout: str | None = None) -> dict[str, Facts]:
    """Ten schools a district in 220102-220105 teaching as filed; the districts of `stopped`
    with that many schools delivering nothing (suspended by order); one school of `walkout`'s
    district cancelling most of its classes."""
    facts: dict[str, Facts] = {}
    for district in ("220102", "220103", "220104", "220105"):
        for _ in range(stopped.get(district, 10)):
            n = len(facts)
            facts[f"inst_{n}"] = school(n, district, 0 if district in stopped else 38)
    if walkout is not None:
        facts["walkout"] = school(len(facts), walkout, 8)
        facts["walkout"].institution_id = "walkout"
    return facts


def judged(facts: dict[str, Facts]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctx = _context(None, facts, {}, AS_OF, whole=True)  # type: ignore[arg-type]
    return {i: evaluate(f, ctx, CFG) for i, f in facts.items()}, systemic_events(ctx, {})


def test_a_district_suspended_by_order_is_one_notice_and_no_case() -> None:
    facts = region({"220103": 10}, walkout="220104")
    verdicts, events = judged(facts)
    assert events == [{"event": "classes_stopped", "region_code": "220103", "delivered": "0.00",
                       "institutions": 10}]  # fmt: skip
    suspended = [i for i, f in facts.items() if f.region_code == "220103"]
    for i in suspended:
        codes = {x.code for x in verdicts[i].indicators}
        assert not codes & {"delivery_share", "consumption_stall"}, (i, codes)
        assert verdicts[i].level == "low"
    # Not a blanket: a school cancelling its classes in a district that teaches is judged.
    walkout = verdicts["walkout"]
    assert rank(walkout.level) >= rank("high")
    assert "delivery_share" in {x.code for x in walkout.indicators}
    assert all(v.level == "low" for i, v in verdicts.items() if i not in ("walkout",))


def test_the_district_alone_without_the_systemic_check_would_be_a_hundred_cases() -> None:
    """What the check answers: judged beside the city alone (which teaches), every school of
    the suspended district would be `high` by the strong form of `delivery_share`."""
    facts = region({"220103": 10})
    ctx = _context(None, facts, {}, AS_OF, whole=True)  # type: ignore[arg-type]
    blind = type(ctx)(**{**ctx.__dict__, "district_delivery": {}})
    levels = {evaluate(f, blind, CFG).level for f in facts.values() if f.region_code == "220103"}
    assert levels == {"high"}


def test_a_city_stopped_as_a_whole_is_named_once_without_its_districts() -> None:
    facts = region({d: 10 for d in ("220102", "220103", "220104", "220105")})
    verdicts, events = judged(facts)
    assert [e["region_code"] for e in events] == ["220100"]
    assert events[0]["institutions"] == 40
    assert {v.level for v in verdicts.values()} == {"low"}


def test_a_few_schools_stopping_together_are_not_a_systemic_event() -> None:
    """Under `min_peers` (5) schools a district is no evidence of an order: each is judged."""
    facts = region({"220103": 3})
    verdicts, events = judged(facts)
    assert events == []
    stopped = [v for i, v in verdicts.items() if facts[i].region_code == "220103"]
    assert len(stopped) == 3 and all(v.level == "high" for v in stopped)


def test_the_simulators_suspension_cancels_the_districts_lessons() -> None:
    from tools.simulate import World

    world = World(24, 90, seed=5)  # six schools a district
    with_it = world.build()
    without = World(24, 90, seed=5, suspension=False).build()
    first = world.start + timedelta(days=world.suspension[0])
    resumed = world.start + timedelta(days=world.suspension[1])
    assert (resumed - first).days == 18 and first.weekday() == 0
    district = {i.label for i in world.insts if i.district == world.suspended}
    assert len(district) == 6 and world.suspended == "220103"
    assert {e["region_code"] for e in with_it if e["type"] == "institution"} == {
        "220102", "220103", "220104", "220105"
    }  # fmt: skip
    # Up to the order, the history is the one it was without it.
    assert [e for e in with_it if _day(e["at"]) < first] == [
        e for e in without if _day(e["at"]) < first
    ]

    def billed(history: list[dict[str, Any]]) -> int:
        """Lessons the district's schools reported from the order to the first report after
        classes resumed (a Saturday's report may carry the Saturday before the order's)."""
        return sum(
            int(e["lessons"]) for e in history if e["type"] == "consumption"
            and e["enrollment"][:5] in district and first < _day(e["at"]) < resumed
        )  # fmt: skip

    assert billed(without) > 100 and billed(with_it) * 10 < billed(without)
    after = [e for e in with_it if e["type"] == "consumption" and e["enrollment"][:5] in district
             and _day(e["at"]) > resumed]  # fmt: skip
    assert after  # classes resume
    asked = [e for e in with_it if e["type"] == "refund_request"
             and e["enrollment"][:5] in district and first <= _day(e["at"]) < resumed]  # fmt: skip
    assert asked  # a few parents ask for the rest of their package back


def _day(at: str) -> date:
    return datetime.fromisoformat(at).date()


def test_evaluate_pools_institutions_not_runs() -> None:
    """`tuitionguard evaluate`'s pooled figures: recall over every seed's failing schools, the
    median over every caught school's lead, the benign at `high` named with their seed."""
    from tools.evaluate import parse_seeds, pooled

    def run(seed: int, caught: list[int], failing: int, fps: list[str]) -> dict[str, Any]:
        return {
            "seed": seed, "institutions": 10, "failing": failing, "false_positives": fps,
            "benign_high_during_shock": [], "benign_high_during_suspension": fps[:1],
            "by_archetype": {
                "walkout": {"institutions": failing, "flagged_high": len(caught),
                            "flagged_14_days_ahead": sum(x >= 14 for x in caught),
                            "median_lead_days": None, "lead_days": caught},
                "healthy": {"institutions": 10 - failing, "flagged_high": len(fps),
                            "flagged_14_days_ahead": 0, "median_lead_days": None,
                            "lead_days": []},
            },
        }  # fmt: skip

    pool = pooled([run(1, [20, 30], 2, []), run(2, [10], 4, ["I0003 (healthy)"])])
    assert pool["failing"] == 6 and pool["benign"] == 14
    assert pool["recall"] == 0.5 and pool["recall_14_days"] == round(2 / 6, 4)
    assert pool["median_lead_days"] == 20
    assert pool["false_positive_rate"] == round(1 / 14, 4)
    assert pool["false_positives"] == ["seed 2: I0003 (healthy)"]
    assert pool["benign_high_during_suspension"] == ["seed 2: I0003 (healthy)"]
    assert pool["by_archetype"]["walkout"]["flagged_14_days_ahead"] == 2
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
