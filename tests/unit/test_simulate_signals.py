"""What counts as a failure's own warning sign in the simulator's measure (tools.simulate)."""

from __future__ import annotations

from datetime import date, timedelta

from tools.simulate import Inst, World, _lead


def _stonewall(world: World) -> Inst:
    return Inst("I9999", "refund_stonewall", "subject", "220102", 0, 120, 1.0, 50)


def test_a_stonewall_caught_by_its_contested_share_rising_counts() -> None:
    # A stonewall contests most refunds it answers: the share rising (`dispute_trend`) is
    # its own sign, before the contested answers are many enough for `refund_disputes`.
    world = World(8, 150, 1)
    inst = _stonewall(world)
    first = world.start + timedelta(days=100)
    assert _lead(world, inst, (first, {"dispute_trend", "refund_velocity"})) == 20


def test_a_stonewall_caught_by_another_failures_sign_does_not_count() -> None:
    world = World(8, 150, 1)
    inst = _stonewall(world)
    first: date = world.start + timedelta(days=100)
    assert _lead(world, inst, (first, {"registry_change"})) is None
