"""The rule-pack endpoints of docs/api.md: the pack in force with each rule's source and where it
was defined, every version, and a change refused rule by rule (`invalid_rule`)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.kit.clock import local_date
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem

REGION = "220382"  # Shuangliao: a district the other tests leave alone


@pytest.fixture
def clean(engine: Engine):  # type: ignore[no-untyped-def]
    """The district with no version but one that lets a change run at once (no four eyes):
    what the change does, not who approves it, is under test here."""
    factories.drop_pack_overrides(engine, REGION)
    factories.pack_override(engine, REGION, {"four_eyes": []}, effective_from=date(2000, 1, 1))
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
    assert made.json()["version"] == 2 and made.json()["changed"] == ["minimum_balance"]

    def balance(on: date) -> dict[str, Any]:
        r = world.client.get("/api/v1/rule-packs/effective", headers=bearer(world.reg),
                             params={"region_code": REGION, "on": on.isoformat()})  # fmt: skip
        return dict(r.json()["rules"]["minimum_balance"])

    assert balance(later - timedelta(days=1))["value"] == {"share_of_owed": "0"}
    after = balance(later)
    assert after["value"] == {"share_of_owed": "0.2"} and after["region_code"] == REGION
    assert after["source"]["article"] == "第五条" and after["version"] == 2
    listed = world.client.get("/api/v1/rule-packs", headers=bearer(world.reg),
                              params={"region_code": REGION})  # fmt: skip
    assert [v["version"] for v in listed.json()["items"]] == [2, 1]  # 1: the fixture's


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
    assert len(listed.json()["items"]) == 1  # the fixture's only


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


def test_under_four_eyes_a_change_waits_for_a_second_person(world: World, engine: Engine) -> None:
    """The default list has `rule_pack_change`: 202 with the approval; nothing changes."""
    factories.drop_pack_overrides(engine, REGION)
    try:
        rules = {"case_snooze_max": {"value": {"days": 3}, "source": source()}}
        r = post(world, rules)
        assert r.status_code == 202, r.text
        assert r.json()["approval"]["status"] == "pending"
        assert r.json()["approval"]["action"] == "rule_pack_change"
        listed = world.client.get("/api/v1/rule-packs", headers=bearer(world.reg),
                                  params={"region_code": REGION})  # fmt: skip
        assert listed.json()["items"] == []
        bad = {"minimum_balance": {"value": {"share_of_owed": "2"}, "source": source()}}
        assert_problem(post(world, bad), 422, "invalid_rule")  # refused at once, not approved
    finally:
        factories.drop_pack_overrides(engine, REGION)


def test_an_approved_change_runs_once(client: TestClient, engine: Engine) -> None:
    from tests.api.test_approvals import _decide, _office

    office = _office(client, engine, "220300")  # Siping: Shuangliao is in it
    factories.drop_pack_overrides(engine, REGION)
    try:
        day = local_date(datetime.now(UTC)) + timedelta(days=2)
        asked = client.post("/api/v1/rule-packs", headers=bearer(office.officer), json={
            "region_code": REGION, "sector": "education_subject",
            "effective_from": day.isoformat(), "reason": "the city's new text",
            "rules": {"minimum_balance": {"value": {"share_of_owed": "0.3"},
                                          "source": source()}}})  # fmt: skip
        assert asked.status_code == 202, asked.text
        approval = asked.json()["approval"]
        assert approval["description"], "what it will do is shown"
        r = _decide(client, office.chief, approval["id"])
        assert r.status_code == 200 and r.json()["approval"]["status"] == "approved", r.text
        listed = client.get("/api/v1/rule-packs", headers=bearer(office.token),
                            params={"region_code": REGION})  # fmt: skip
        assert [(v["version"], v["changed"]) for v in listed.json()["items"]] == [
            (1, ["minimum_balance"])
        ]
        again = _decide(client, office.chief, approval["id"])
        assert again.status_code == 409  # decided: it never runs twice
    finally:
        factories.drop_pack_overrides(engine, REGION)


def test_the_effective_pack_answers_every_rule_in_the_contracts_shape(world: World) -> None:
    """`{region_code, on, sector, rules: {NAME: {value, source: {title, number?, issuer,
    article?, url?}, region_code, version, effective_from}}}` for every rule the contract
    names, the service's defaults too (version 0, from 2000-01-01: a day, never null)."""
    r = world.client.get("/api/v1/rule-packs/effective", headers=bearer(world.reg),
                         params={"region_code": "330106", "on": "2026-10-08"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"region_code", "on", "sector", "rules"} <= set(body)
    named = ("confirmation_window refund_answer_deadline refund_payment_deadline "
             "release_cadence complaint_holds_release prepay_caps earliest_collection "
             "minimum_balance payout_cap reserve_requirement entry_gate bank_warnings "
             "wind_down four_eyes risk_thresholds").split()  # fmt: skip
    assert set(named) <= set(body["rules"])
    for name, rule in body["rules"].items():
        assert {"value", "source", "region_code", "version", "effective_from"} <= set(rule), name
        assert rule["source"]["title"] and rule["source"]["issuer"], name
        assert date.fromisoformat(rule["effective_from"]), name
        assert re.fullmatch(r"\d{6}", rule["region_code"]) and rule["version"] >= 0, name
    default = body["rules"]["minimum_balance"]
    assert (default["region_code"], default["version"], default["effective_from"]) == (
        "000000", 0, "2000-01-01")  # fmt: skip
