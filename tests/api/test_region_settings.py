"""Region settings: a value is checked against what it sets before it is stored, so one
regulator cannot halt monitoring for a province (issue: holes, items 4 and 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests import factories
from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem


def put(w: World, token: str, region: str, key: str, value: object):
    return w.client.post(
        "/api/v1/region-settings",
        headers=bearer(token),
        json={"region_code": region, "key": key, "value": value},
    )


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"refund_failed": {"threshold": "abc"}}, "body.value.refund_failed.threshold"),
        ({"refund_failed": {"threshold": 0}}, "body.value.refund_failed.threshold"),
        ({"prepay_surge": {"weight": 1000}}, "body.value.prepay_surge.weight"),
        ({"prepay_surge": {"floor": "purple"}}, "body.value.prepay_surge.floor"),
        ({"prepay_surge": {"no_such_knob": 1}}, "body.value.prepay_surge.no_such_knob"),
        ({"no_such_indicator": {"weight": 1}}, "body.value.no_such_indicator"),
    ],
)
def test_a_bad_risk_threshold_is_refused_with_its_field(
    world: World, value: object, field: str
) -> None:
    r = put(world, world.reg, "220322", "risk_thresholds", value)
    body = assert_problem(r, 422, "validation_error")
    assert field in [e["field"] for e in body["errors"]], body


def test_a_refused_setting_leaves_monitoring_running(world: World) -> None:
    put(world, world.reg, "220322", "risk_thresholds", {"refund_failed": {"threshold": "abc"}})
    r = world.client.post("/api/v1/risk/sweeps", headers=bearer(world.reg), json={})
    assert r.status_code == 200, r.text
    assert world.job("risk_sweep")["institutions_evaluated"] >= 1


def test_a_bad_row_stored_by_hand_cannot_stop_a_sweep(world: World, engine: Engine) -> None:
    """Rows written before validation existed, or by hand: the override is skipped, logged,
    and the province's sweep goes on with the defaults."""
    factories.pack_override(
        engine, "220102", {"risk_thresholds": {"refund_failed": {"threshold": "abc"}, "nope": 1}}
    )
    try:
        r = world.client.post("/api/v1/risk/sweeps", headers=bearer(world.reg), json={})
        assert r.status_code == 200, r.text
        assert world.job("risk_sweep")["institutions_evaluated"] >= 1
    finally:
        factories.drop_pack_overrides(engine, "220102")


def test_a_good_override_is_stored_as_it_takes_effect(world: World, engine: Engine) -> None:
    r = put(world, world.reg, "220322", "risk_thresholds", {"prepay_surge": {"threshold": "4"}})
    assert r.status_code == 202, r.text  # a rule pack change: four eyes
    assert through(world.client, engine, r)["value"] == {"prepay_surge": {"threshold": "4"}}


def test_a_region_that_does_not_exist_is_refused(world: World) -> None:
    assert_problem(
        put(world, world.reg, "229999", "confirmation_window_days", 3), 422, "invalid_region_code"
    )


@pytest.mark.parametrize("value", [True, "3", 3.0, -1, 91])
def test_an_integer_setting_takes_an_integer_in_range(world: World, value: object) -> None:
    assert_problem(
        put(world, world.reg, "220322", "confirmation_window_days", value),
        422,
        "validation_error",
    )


def test_a_setting_outside_the_region_is_refused(world: World, engine: Engine) -> None:
    _, siping = factories.regulator(engine, "220300")
    assert_problem(
        put(world, siping, "220402", "confirmation_window_days", 3), 403, "out_of_region"
    )
