"""A targeted risk evaluation (one institution, after a bank's message) judges refund rates
against the same city medians as a whole sweep, in a database of its own so that the medians
are the test's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from tests.api.test_flows import World, reserve_world


@pytest.fixture
def engine(fresh_engine: Engine) -> Engine:
    return fresh_engine


def test_one_institution_is_judged_against_its_whole_city(world: World, engine) -> None:
    """A targeted evaluation compares refund rates with the same city medians a whole sweep
    derives from every institution's facts (judged against itself, a refund surge would never
    be one)."""
    from sqlalchemy.orm import Session

    from service.policy.knobs import RiskConfig
    from service.risk.facts import Needs, gather, peer_refund_rates
    from service.risk.sweep import _region_refund_rates

    other, _ = reserve_world(world)
    for w, refunded in ((world, 1), (other, 2)):  # shares 1/2 and 2/2 of two enrollments
        for n in range(2):
            e = w.enroll(lessons=2, amount="40.00")
            assert w.pay(e).status_code == 201
            if n < refunded:
                r = w.client.post(
                    "/api/v1/parent/refunds", headers=w.parent(e), json={"reason": "x"}
                )
                assert r.status_code == 201, r.text
    now = world.clock.now
    with Session(engine) as session:
        facts = gather(session, as_of=now, needs=Needs.of([RiskConfig()]))
        whole = _region_refund_rates(facts, now)
        cities = {f.region_code[:4] for f in facts.values()}
        assert whole == {"2201": Decimal("0.75")}
        assert peer_refund_rates(session, cities, now) == whole
        assert peer_refund_rates(session, {"2201"}, now) == {"2201": whole["2201"]}
