"""A batch's ids drawn at once are ids as `new_id` makes them."""

from __future__ import annotations

import re

from service.kit.ids import new_id, new_ids


def test_ids_drawn_at_once_are_new_ids() -> None:
    before = new_id("dep")
    many = new_ids("dep", 1000)
    shape = re.compile(r"dep_[0-9a-f]{32}")
    assert all(shape.fullmatch(i) for i in many)
    assert len(set(many)) == 1000  # 80 random bits each
    assert len({i[:16] for i in many}) == 1  # one millisecond, first
    assert many[0][:16] >= before[:16]  # time first: not before an id made earlier
    assert new_ids("dep", 0) == []
