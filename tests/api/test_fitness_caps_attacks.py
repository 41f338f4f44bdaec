"""Hostile and broken callers of the fitness caps (issue 33), on SQLite and PostgreSQL: bad
input is a 4xx problem with a stable code and changes nothing; another institution's key
cannot enroll into the gym's course or be counted against its members; a refund only asked
for (or denied) frees no room; a consumer's reference trimmed is the same consumer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.api.conftest import bearer
from tests.api.test_fitness_caps import Xuhui, xuhui  # noqa: F401 - the fixture
from tests.api.test_plumbing import assert_problem


def _enroll(x: Xuhui, key: str, course_id: str, body: dict[str, Any]) -> Any:
    return x.client.post("/api/v1/enrollments", headers=bearer(key),
                         json={"course_id": course_id, **body})  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        {"student_ref": "m1", "lessons": 40, "amount": "-12000.00"},
        {"student_ref": "m1", "lessons": 40, "amount": "0"},
        {"student_ref": "m1", "lessons": 40, "amount": "12000.001"},
        {"student_ref": "m1", "lessons": 40, "amount": "NaN"},
        {"student_ref": "m1", "lessons": 40, "amount": "1e5"},
        {"student_ref": "m1", "lessons": 40, "amount": 12000.0},
        {"student_ref": "m1", "lessons": 0, "amount": "12000.00"},
        {"student_ref": "", "lessons": 40, "amount": "12000.00"},
        {"student_ref": "m1\x00", "lessons": 40, "amount": "12000.00"},
        {"student_ref": "m1", "lessons": 40},
    ],
)
def test_bad_orders_are_refused_and_change_nothing(xuhui: Xuhui, body: dict[str, Any]) -> None:  # noqa: F811
    gym = xuhui.sellers["gym"]
    assert xuhui.enroll("gym", "m1", 40, "12000.00").status_code == 201
    r = _enroll(xuhui, gym.key, gym.course_id, body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] in {"validation_error", "invalid_request"}, r.json()
    assert xuhui.held("gym", "m1") == Decimal("12000.00")


def test_another_institution_cannot_use_or_fill_a_members_room(xuhui: Xuhui) -> None:  # noqa: F811
    """The school's key on the gym's course: 404, nothing made. The school's own orders for a
    reference the gym also uses are the school's, never counted at the gym (per institution)."""
    gym, school = xuhui.sellers["gym"], xuhui.sellers["school"]
    r = _enroll(xuhui, school.key, gym.course_id,
                {"student_ref": "m2", "lessons": 40, "amount": "12000.00"})  # fmt: skip
    assert_problem(r, 404, "not_found")
    assert xuhui.held("gym", "m2") == 0
    for _ in range(4):  # 4 x 4,500 at the school (each within its 5,000 a collection)
        assert xuhui.enroll("school", "m2", 15, "4500.00").status_code == 201
    assert xuhui.held("gym", "m2") == 0
    assert xuhui.enroll("gym", "m2", 60, "18000.00").status_code == 201


def test_a_trimmed_reference_is_the_same_consumer(xuhui: Xuhui) -> None:  # noqa: F811
    assert xuhui.enroll("gym", "m3", 40, "12000.00").status_code == 201
    body = assert_problem(xuhui.enroll("gym", " m3 ", 40, "12000.00"), 409,
                          "prepay_over_consumer_cap")  # fmt: skip
    assert body["held"] == "12000.00" and body["limit"] == "20000.00"


def test_a_refund_asked_or_denied_frees_no_room(xuhui: Xuhui) -> None:  # noqa: F811
    """Room comes back only when the refund is paid: asked for, it may still be denied."""
    e = xuhui.enroll("gym", "m4", 40, "12000.00").json()
    xuhui.pay("gym", e)
    login = {"enrollment_id": e["id"], "access_code": e["access_code"]}
    token = xuhui.client.post("/api/v1/parent/sessions", json=login).json()["token"]
    r = xuhui.client.post("/api/v1/parent/refunds", headers=bearer(token),
                          json={"reason": "moving"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert xuhui.held("gym", "m4") == Decimal("12000.00")
    assert_problem(xuhui.enroll("gym", "m4", 40, "12000.00"), 409, "prepay_over_consumer_cap")
