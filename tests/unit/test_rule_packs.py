"""Rule packs: typed rules with bounds, resolution down the region tree rule by rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.policy import packs
from service.policy import rules as r

SOURCE = r.Source(title="a text", issuer="an office")


def entry(value: Any) -> r.Entry:
    return r.Entry(value=value, source=SOURCE)


def test_the_chain_runs_from_the_nation_down() -> None:
    assert packs.chain("220402") == ["000000", "220000", "220400", "220402"]
    assert packs.chain("220400") == ["000000", "220000", "220400"]
    assert packs.chain("220000") == ["000000", "220000"]


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("confirmation_window", {"working_days": 7, "days": 7}, "value"),
        ("confirmation_window", {"working_days": 91}, "value.working_days"),
        ("release_cadence", {"mode": "weekly"}, "value"),
        ("release_cadence", {"mode": "monthly"}, "value.mode"),
        ("minimum_balance", {"share_of_owed": "1.5"}, "value.share_of_owed"),
        ("prepay_caps", {"lessons": 0, "months": 3}, "value.lessons"),
        ("entry_gate", {"months_after_licence": 6, "credit_lists": ["x"]}, "value.credit_lists.0"),
        ("four_eyes", ["launch_rockets"], "value.0"),
        ("risk_thresholds", {"refund_failed": {"threshold": 0}}, "value"),
    ],
)
def test_a_value_outside_its_rule_is_refused_naming_the_field(
    name: str, value: Any, field: str
) -> None:
    with pytest.raises(r.InvalidRule) as caught:
        r.check_value(name, value)
    assert (caught.value.rule, caught.value.field) == (name, field)


def test_a_value_inside_its_rule_is_typed() -> None:
    caps = r.check_value("prepay_caps", {"lessons": 60, "months": 24, "amount": "20000"})
    assert caps.amount == Decimal("20000") and caps.months == 24
    assert r.dump_value("prepay_caps", caps)["amount"] == "20000"


def test_an_unknown_rule_and_a_bad_source_are_named() -> None:
    with pytest.raises(r.InvalidRule):
        r.check_value("no_such_rule", 1)
    with pytest.raises(r.InvalidRule) as caught:
        r.check_source("prepay_caps", {"title": "", "issuer": "x"})
    assert caught.value.field == "source.title"


def test_the_most_specific_definition_wins_rule_by_rule() -> None:
    on = date(2026, 10, 1)
    layers = [
        packs.Layer(region_code="220000", sector="all", version=1, effective_from=on,
                    definition={"confirmation_window": entry({"working_days": 7}),
                                "minimum_balance": entry({"share_of_owed": "0.1"})}),
        packs.Layer(region_code="220300", sector="education_subject", version=2,
                    effective_from=on,
                    definition={"minimum_balance": entry({"share_of_owed": "0.2"})}),
    ]  # fmt: skip
    pack = packs.fold(layers, region_code="220302", sector="education_subject", on=on)
    assert pack.values.confirmation_window.working_days == 7
    assert pack.cited["confirmation_window"].region_code == "220000"
    assert pack.values.minimum_balance.share_of_owed == Decimal("0.2")
    assert pack.cited["minimum_balance"].region_code == "220300"
    assert pack.cited["minimum_balance"].version == 2
    assert pack.cited["prepay_caps"].region_code == r.NATIONAL  # the default, cited as such
    assert pack.values.prepay_caps.lessons == 60


def test_a_stored_rule_that_no_longer_validates_leaves_the_parents() -> None:
    on = date(2026, 10, 1)
    layers = [
        packs.Layer(region_code="220000", sector="all", version=1, effective_from=on,
                    definition={"case_snooze_max": entry({"days": 10})}),
        packs.Layer(region_code="220300", sector="all", version=1, effective_from=on,
                    definition={"case_snooze_max": entry({"days": "many"})}),
    ]  # fmt: skip
    pack = packs.fold(layers, region_code="220300", sector="all", on=on)
    assert pack.values.case_snooze_max.days == 10


# -- property: resolving down the tree equals applying each ancestor's rules in order --------

SPANS = st.one_of(
    st.builds(lambda n: {"working_days": n}, st.integers(0, 90)),
    st.builds(lambda n: {"days": n}, st.integers(0, 90)),
)
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "confirmation_window": SPANS,
    "refund_answer_deadline": SPANS,
    "refund_payment_deadline": st.builds(lambda n: {"working_days": n}, st.integers(1, 90)),
    "minimum_balance": st.builds(
        lambda n: {"share_of_owed": str(Decimal(n) / 100)}, st.integers(0, 100)
    ),
    "prepay_caps": st.builds(
        lambda n, m: {"lessons": n, "months": m}, st.integers(1, 1000), st.integers(1, 60)
    ),
    "release_cadence": st.one_of(
        st.just({"mode": "per_lesson"}),
        st.builds(lambda d: {"mode": "weekly", "weekday": d}, st.integers(1, 7)),
        st.builds(
            lambda n: {"mode": "after_last_lesson", "working_days_after": n}, st.integers(0, 90)
        ),
    ),
    "case_snooze_max": st.builds(lambda n: {"days": n}, st.integers(0, 90)),
}
DEFINITIONS = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), max_size=5).flatmap(
    lambda names: st.fixed_dictionaries({n: VALUES[n] for n in names})
)


@settings(max_examples=200, deadline=None)
@given(st.lists(DEFINITIONS, min_size=4, max_size=4), st.lists(DEFINITIONS, min_size=4, max_size=4))
def test_resolving_down_the_tree_equals_applying_each_ancestors_rules_in_order(
    common: list[dict[str, Any]], own: list[dict[str, Any]]
) -> None:
    on = date(2026, 10, 1)
    regions = packs.chain("220302")
    found: dict[tuple[str, str], list[packs.Layer]] = {}
    for code, defined in zip(regions, common, strict=True):
        found[(code, "all")] = [packs.Layer(
            region_code=code, sector="all", version=1, effective_from=on,
            definition={k: entry(v) for k, v in defined.items()},
        )]  # fmt: skip
    for code, defined in zip(regions, own, strict=True):
        found[(code, "fitness")] = [packs.Layer(
            region_code=code, sector="fitness", version=1, effective_from=on,
            definition={k: entry(v) for k, v in defined.items()},
        )]  # fmt: skip
    resolved = packs.fold(
        packs._ordered(found, "220302", "fitness"), region_code="220302", sector="fitness", on=on
    )
    # The same, by hand: each division in order, its common rules then its sector's, the
    # last word on each rule kept.
    expected: dict[str, tuple[Any, str, str]] = {}
    for code, c, o in zip(regions, common, own, strict=True):
        for k, v in c.items():
            expected[k] = (v, code, "all")
        for k, v in o.items():
            expected[k] = (v, code, "fitness")
    for name, (value, code, sector) in expected.items():
        cited = resolved.cited[name]
        assert (cited.region_code, cited.sector) == (code, sector)
        assert getattr(resolved.values, name) == r.check_value(name, value)
    for name in set(r.NAMES) - set(expected):
        assert resolved.cited[name].region_code == r.NATIONAL
        assert getattr(resolved.values, name) == getattr(r.DEFAULT_VALUES, name)
