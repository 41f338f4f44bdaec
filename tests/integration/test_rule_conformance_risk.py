"""Conformance of the rules the risk side obeys: the same school, enrollment and reserve replayed
under two packs give the two outcomes the texts require (docs/rules.md)."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from tests import factories
from tests.integration.test_backtest import DATA, _line, _replayed


def test_the_reserve_must_cover_the_packs_share_of_what_is_owed(engine: Engine) -> None:
    """`reserve_requirement`: a reserve of 60 against 100 owed falls short where the reserve is
    to cover all of it (the national default, Changchun 220102) and does not where a pack asks
    for half (an override at another Changchun district, 220103)."""
    course = json.loads(DATA.read_text().splitlines()[3])
    factories.pack_override(engine, "220103", {"reserve_requirement": {"share_of_owed": "0.5"}})
    try:
        lines = []
        for x, region in (("R", "220102"), ("H", "220103")):
            lines += [
                _line("2026-11-23T08:00:00+08:00", "institution", id=x, name=x,
                      region_code=region, category="subject", supervision_mode="reserve"),
                json.dumps({**course, "id": f"{x}-maths", "institution": x}),
                _line("2026-11-23T09:00:00+08:00", "enrollment", id=f"{x}-1",
                      course=f"{x}-maths", lessons=5, amount="100.00"),
                _line("2026-11-23T09:10:00+08:00", "deposit", bank_txn_id=f"{x}-d1",
                      institution=x, enrollment=f"{x}-1", amount="100.00"),
                _line("2026-11-23T09:20:00+08:00", "reserve_deposit", bank_txn_id=f"{x}-r1",
                      institution=x, amount="60.00"),
            ]  # fmt: skip
        _, summary, out, err = _replayed(engine, lines)
        assert summary["skipped"] == 0, err.getvalue()
    finally:
        factories.drop_pack_overrides(engine, "220103")
    rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
    last = {r["institution"]: r for r in rows if r["date"] == "2026-11-23"}
    found = {x: {i["code"]: i for i in last[x]["indicators"]} for x in ("R", "H")}
    assert found["R"]["reserve_shortfall"]["value"] == "40.00"
    assert "reserve_shortfall" not in found["H"]
