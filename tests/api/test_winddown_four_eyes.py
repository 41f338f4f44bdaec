"""Four eyes on the wind-down's three actions (wind_down_open, wind_down_round,
successor_offer; issue 32): each request waits, and two supervisors approving the same request
at once run it exactly once — one wind-down, one round, one offer a claim. On SQLite and
PostgreSQL (tests/api/test_approvals.py does the same for the other default actions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from service.flows.models import SuccessorOffer, WindDown, WindDownRound
from service.kit.db import make_sessionmaker
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_approvals import _two_at_once
from tests.api.test_flows import World
from tests.api.test_successors import successor
from tests.api.test_winddown import open_it, regulator_of


def _decided_at_once(w: World, engine: Engine, asked: Any, action: str) -> None:
    assert asked.status_code == 202, asked.text
    approval = asked.json()["approval"]
    assert (approval["action"], approval["status"]) == (action, "pending")
    office = regulator_of(w, engine)
    chiefs = [factories.officer(engine, office, "supervisor").officer_id for _ in range(2)]
    outcomes = _two_at_once(engine, office, approval["id"], chiefs, now=lambda: w.clock.now)
    assert outcomes == ["approval_decided", "ok"], outcomes


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with make_sessionmaker(engine)() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_an_opening_approved_twice_at_once_opens_one_wind_down(
    world: World, engine: Engine
) -> None:
    w = world
    assert w.pay(w.enroll(lessons=10, amount="150.00")).status_code == 201
    body = {"reason": "absconded", "effective_at": w.clock.now.isoformat(), "note": "gone"}
    asked = w.client.post(f"/api/v1/institutions/{w.inst_id}/wind-down", json=body,
                          headers=bearer(w.reg))  # fmt: skip
    assert _count(engine, WindDown, WindDown.institution_id == w.inst_id) == 0
    _decided_at_once(w, engine, asked, "wind_down_open")
    assert _count(engine, WindDown, WindDown.institution_id == w.inst_id) == 1


def test_a_round_approved_twice_at_once_is_made_once(world: World, engine: Engine) -> None:
    w = world
    for _ in range(2):
        assert w.pay(w.enroll(lessons=10, amount="150.00")).status_code == 201
    wd = open_it(w).json()
    asked = w.client.post(f"/api/v1/wind-downs/{wd['id']}/rounds", json={"amount": "30.00"},
                          headers=bearer(w.reg))  # fmt: skip
    assert _count(engine, WindDownRound, WindDownRound.wind_down_id == wd["id"]) == 0
    _decided_at_once(w, engine, asked, "wind_down_round")
    assert _count(engine, WindDownRound, WindDownRound.wind_down_id == wd["id"]) == 1
    assert len(w.pending()) == 2  # one payment a claim, once


def test_an_offer_approved_twice_at_once_is_offered_once(world: World, engine: Engine) -> None:
    w = world
    for _ in range(2):
        assert w.pay(w.enroll(lessons=10, amount="200.00")).status_code == 201
    wd = open_it(w).json()
    good = successor(w)
    asked = w.client.post(f"/api/v1/wind-downs/{wd['id']}/successor-offers",
                          json={"successor_institution_id": good["id"]},
                          headers=bearer(w.reg))  # fmt: skip
    assert _count(engine, SuccessorOffer, SuccessorOffer.wind_down_id == wd["id"]) == 0
    _decided_at_once(w, engine, asked, "successor_offer")
    assert _count(engine, SuccessorOffer, SuccessorOffer.wind_down_id == wd["id"]) == 2
