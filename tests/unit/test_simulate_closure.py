"""The simulator's honest closure refunds every parent still owed: also those whose
sessions are all past but were never held, cancelled by a suspension by order (`World.active`
leaves them out). Without that, the "honest" closure of a school in the suspended district
left parents owed, and the engine was right to call it a default (`tune` 1's I0029). The
fix draws no random number: every other institution's history stays as it was."""

from __future__ import annotations

from typing import Any

import pytest

import tools.simulate as sim


def _owed(world: sim.World, inst: sim.Inst) -> list[sim.Enr]:
    return [e for e in inst.enrollments if not e.refunded and e.billed < len(e.sessions)]


def _closed(world: sim.World) -> list[sim.Inst]:
    return [i for i in world.insts if i.archetype in ("honest_closure", "honest_chain")
            and i.fail_day is not None and i.district == world.suspended]  # fmt: skip


def test_an_honest_closure_in_the_suspended_district_refunds_the_cancelled_sessions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fixed = sim.World(40, 200, seed=1)
    with_fix = fixed.build()
    monkeypatch.setattr(sim, "_refund_cancelled", lambda *a: None)
    old = sim.World(40, 200, seed=1)
    before = old.build()
    closing = _closed(old)
    assert closing, "the seed has an honest closure in the suspended district"
    # Before: the closure left parents of cancelled sessions owed.
    assert sum(len(_owed(old, i)) for i in closing) > 0
    # After: every enrollment of the closed school is either held in full or refunded.
    assert all(not _owed(fixed, i) for i in _closed(fixed))
    # No random draw moved: the history is the old one plus the closure's refunds alone.
    added = _diff(with_fix, before)
    assert added and {e["type"] for e in added} == {"refund_request", "refund_answer"}
    labels = {i.label for i in closing}
    assert all(_institution(e) in labels for e in added)


def _institution(event: dict[str, Any]) -> str:
    return str(event.get("enrollment") or event.get("refund"))[:5]


def _diff(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of `new` that `old` lacks, with every event of `old` in `new`."""
    remaining = [repr(e) for e in old]
    out = []
    pool: dict[str, int] = {}
    for r in remaining:
        pool[r] = pool.get(r, 0) + 1
    for e in new:
        r = repr(e)
        if pool.get(r):
            pool[r] -= 1
        else:
            out.append(e)
    assert not any(pool.values()), "an event of the old history is gone"
    return out
