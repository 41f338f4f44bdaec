"""One parent is one voice (issue 31, finding 2): from one ¥20 enrollment, 60 complaints in
0.3 s took a school from score 0 to 55 and opened a case. Complaints are limited per
enrollment, and the complaint signals count parents, not rows. On SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.flows import complaints
from service.flows.models import Complaint
from service.kit.clock import utcnow
from service.registry.models import Regulator
from tests.api.conftest import bearer
from tests.api.test_flows import World
from tests.api.test_plumbing import assert_problem

CATEGORIES = ["refund", "teaching_stopped", "asked_to_pay_off_platform", "quality", "other"]
FLOOD = ["refund", "teaching_stopped", "quality", "other"]


def _filed(engine: Engine, enrollment_id: str) -> list[str]:
    with Session(engine) as s:
        rows = s.scalars(select(Complaint.category).where(Complaint.enrollment_id == enrollment_id))
        return sorted(rows)


def _complain(w: World, parent: dict[str, str], category: str) -> Any:
    return w.client.post("/api/v1/parent/complaints", headers=parent,
                         json={"category": category, "text": "停课了"})  # fmt: skip


def test_sixty_complaints_at_once_from_one_enrollment_file_three(
    world: World, engine: Engine
) -> None:
    """60 at once over four categories: three are filed (the day's limit), each of another
    category; the rest are 429 `complaint_limit` with Retry-After, or 409
    `complaint_already_filed`; the next sweep leaves the school at score 0, no case opened.
    (One parent saying they were asked to pay off the platform is evidence of its own, by
    design: `off_platform`'s "one parent's word", counted once however often it is said.)"""
    w = world
    e = w.enroll(lessons=1, amount="20.00")
    assert w.pay(e).status_code == 201
    parent = w.parent(e)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _complain(w, parent, FLOOD[i % 4]), range(60)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(201) == 3, codes
    assert set(codes) <= {201, 409, 429}
    filed = _filed(engine, e["id"])
    assert len(filed) == len(set(filed)) == 3
    for r in answers:
        if r.status_code == 429:
            assert r.json()["code"] == "complaint_limit"
            assert 1 <= int(r.headers["Retry-After"]) <= 24 * 3600
        elif r.status_code == 409:
            assert r.json()["code"] == "complaint_already_filed"

    sweep = w.client.post("/api/v1/risk/sweeps", headers=bearer(w.reg),
                          json={"as_of": w.clock.now.isoformat()})  # fmt: skip
    assert sweep.status_code == 200, sweep.text
    assert sweep.json()["alerts_opened"] == 0
    history = w.client.get(f"/api/v1/institutions/{w.inst_id}/risk-history",
                           headers=bearer(w.reg)).json()["items"]  # fmt: skip
    assert history[0]["score"] == 0, history[0]


def _handle(engine: Engine, complaint_id: str, region: str = "220000") -> None:
    """A regulator of the region marks the complaint handled (the workbench's use case)."""
    with Session(engine) as s, s.begin():
        reg = s.scalar(select(Regulator).where(Regulator.region_code == region))
        assert reg is not None
        complaints.handle(s, regulator=reg, complaint_id=complaint_id, now=utcnow())


def test_one_open_complaint_of_a_category_and_three_a_day(world: World, engine: Engine) -> None:
    """A second complaint of a category is 409 while the first is open, and may be filed once
    a regulator has handled it; the fourth of a day is 429 whatever its category."""
    w = world
    e = w.enroll(lessons=2, amount="40.00")
    assert w.pay(e).status_code == 201
    parent = w.parent(e)
    first = _complain(w, parent, "refund")
    assert first.status_code == 201
    refused = assert_problem(_complain(w, parent, "refund"), 409, "complaint_already_filed")
    assert refused["complaint_id"] == first.json()["id"]
    w.clock.now += timedelta(days=30)
    parent = w.parent(e)  # a session lasts 12 hours
    assert_problem(_complain(w, parent, "refund"), 409, "complaint_already_filed")  # still open
    _handle(engine, first.json()["id"])
    assert [_complain(w, parent, c).status_code for c in CATEGORIES] == [201, 201, 201, 429, 429]
    assert len(_filed(engine, e["id"])) == 4
    with pytest.raises(DomainError) as twice:
        _handle(engine, first.json()["id"])
    assert twice.value.code == "invalid_state"


def test_another_parent_is_not_held_back(world: World, engine: Engine) -> None:
    """The limits are per enrollment: three parents of the school file three complaints of
    one category; three parents complaining is what a surge counts."""
    w = world
    parents = []
    for _ in range(3):
        e = w.enroll(lessons=1, amount="20.00")
        assert w.pay(e).status_code == 201
        parents.append(w.parent(e))
    assert [_complain(w, p, "teaching_stopped").status_code for p in parents] == [201] * 3
    with Session(engine) as s:
        n = s.scalar(
            select(func.count()).where(Complaint.institution_id == w.inst_id,
                                       Complaint.category == "teaching_stopped")
        )  # fmt: skip
    assert n == 3
    sweep = w.client.post("/api/v1/risk/sweeps", headers=bearer(w.reg),
                          json={"as_of": w.clock.now.isoformat()})  # fmt: skip
    assert sweep.status_code == 200, sweep.text
    history = w.client.get(f"/api/v1/institutions/{w.inst_id}/risk-history",
                           headers=bearer(w.reg)).json()["items"]  # fmt: skip
    assert "complaint_surge" in [i["code"] for i in history[0]["indicators"]]
