"""The rule-pack endpoints of API.md: the pack in force with each rule's source and where it
was defined, every version, and a change refused rule by rule (`invalid_rule`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from service.kit.clock import local_date
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem

REGION = "220382"  # Shuangliao: a district the other tests leave alone


@pytest.fixture
def clean(engine: Engine):  # type: ignore[no-untyped-def]
    factories.drop_pack_overrides(engine, REGION)
    yield
    factories.drop_pack_overrides(engine, REGION)


def source() -> dict[str, str]:
    return {"title": "双辽市校外培训预收费监管细则", "issuer": "双辽市教育局", "article": "第五条"}


def post(w: World, rules: dict[str, Any], *, token: str | None = None,
         region: str = REGION, sector: str = "all", on: date | None = None) -> Any:  # fmt: skip
    return w.client.post(
        "/api/v1/rule-packs",
        headers=bearer(token or w.reg),
        json={"region_code": region, "sector": sector,
              "effective_from": (on or local_date(w.clock.now)).isoformat(),
              "rules": rules, "reason": "the city's new text"},
    )  # fmt: skip


def test_the_effective_pack_names_every_rule_with_its_source(world: World) -> None:
    r = world.client.get(
        "/api/v1/rule-packs/effective",
        headers=bearer(world.reg),
        params={"region_code": "330106", "sector": "education_subject", "on": "2026-10-08"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["region_code"], body["on"], body["sector"]) == (
        "330106",
        "2026-10-08",
        "education_subject",
    )
    window = body["rules"]["confirmation_window"]
    assert window["value"] == {"working_days": 7} and window["region_code"] == "330000"
    assert window["source"]["issuer"] and window["effective_from"] == "2022-01-01"
    caps = body["rules"]["prepay_caps"]
    assert caps["region_code"] == "000000" and caps["source"]["number"] == "教监管函〔2021〕2号"


def test_an_institution_reads_its_own_sectors_pack(world: World) -> None:
    r = world.client.get("/api/v1/rule-packs/effective", headers=bearer(world.key))
    assert r.status_code == 200, r.text
    assert r.json()["sector"] == "education_subject"
    assert r.json()["region_code"] == "220102"


def test_a_change_is_a_new_version_in_force_from_its_day(world: World, clean: None) -> None:
    later = local_date(world.clock.now) + timedelta(days=10)
    made = post(world, {"minimum_balance": {"value": {"share_of_owed": "0.2"},
                                            "source": source()}}, on=later)  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 1 and made.json()["changed"] == ["minimum_balance"]

    def balance(on: date) -> dict[str, Any]:
        r = world.client.get("/api/v1/rule-packs/effective", headers=bearer(world.reg),
                             params={"region_code": REGION, "on": on.isoformat()})  # fmt: skip
        return dict(r.json()["rules"]["minimum_balance"])

    assert balance(later - timedelta(days=1))["value"] == {"share_of_owed": "0"}
    after = balance(later)
    assert after["value"] == {"share_of_owed": "0.2"} and after["region_code"] == REGION
    assert after["source"]["article"] == "第五条" and after["version"] == 1
    listed = world.client.get("/api/v1/rule-packs", headers=bearer(world.reg),
                              params={"region_code": REGION})  # fmt: skip
    assert [v["version"] for v in listed.json()["items"]] == [1]


@pytest.mark.parametrize(
    ("rules", "rule", "field"),
    [
        ({"minimum_balance": {"value": {"share_of_owed": "2"}, "source": source()}},
         "minimum_balance", "value.share_of_owed"),
        ({"release_cadence": {"value": {"mode": "weekly"}, "source": source()}},
         "release_cadence", "value"),
        ({"minimum_balance": {"value": {"share_of_owed": "0.1"},
                              "source": {"title": "", "issuer": "x"}}},
         "minimum_balance", "source.title"),
        ({"no_such_rule": {"value": 1, "source": source()}}, "no_such_rule", "name"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_naming_the_rule_and_the_field(
    world: World, clean: None, rules: dict[str, Any], rule: str, field: str
) -> None:
    body = assert_problem(post(world, rules), 422, "invalid_rule")
    assert body["rule"] == rule and body["field"] == field, body
    listed = world.client.get("/api/v1/rule-packs", headers=bearer(world.reg),
                              params={"region_code": REGION})  # fmt: skip
    assert listed.json()["items"] == []


def test_a_region_wide_rule_belongs_to_the_all_layer(world: World, clean: None) -> None:
    body = assert_problem(
        post(world, {"four_eyes": {"value": [], "source": source()}}, sector="fitness"),
        422,
        "invalid_rule",
    )
    assert body["rule"] == "four_eyes"


def test_who_may_change_a_pack(world: World, engine: Engine, clean: None) -> None:
    rules = {"case_snooze_max": {"value": {"days": 3}, "source": source()}}
    assert_problem(post(world, rules, token=world.key), 401, "unauthenticated")
    _, other = factories.regulator(engine, "330000")
    assert_problem(post(world, rules, token=other), 403, "out_of_region")
    assert_problem(post(world, rules, region="000000"), 403, "out_of_region")
    yesterday = local_date(world.clock.now) - timedelta(days=1)
    assert_problem(post(world, rules, on=yesterday), 422, "validation_error")
