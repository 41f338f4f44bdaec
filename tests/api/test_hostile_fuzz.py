"""Property-based fuzzing of the domain through the app, in process (the reliability issue):
for the write endpoints of every caller, bodies built from a valid one with fields replaced by
hostile values (NUL and other control characters, edge and impossible dates, huge and negative
numbers, floats for money, wrong JSON types, unknown and read-only fields, deep nesting) never
get a 5xx, and a refusal (4xx) changes nothing: every table holds what it held. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from service.kit.db import Base
from tests.api.conftest import bearer
from tests.api.test_flows import World

HOSTILE = st.one_of(
    st.sampled_from(["a\x00b", "\x00", "\x1b[31m", "\x7f", "\u0085", "\ud7ff", "", " ", "Ω" * 5000]),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-13-45",
                     "2026-11-23T09:00:00", "2026-11-23", "1e308", "NaN", "Infinity", "-1",
                     "0", "0.001", "99999999999999.99", "1,000.00", " 10 ", "10 yuan"]),
    st.sampled_from([None, True, False, 0, -1, 2**63, 1e308, 1.5, float("-0.0")]),
    st.sampled_from([[], {}, [1, 2], {"$where": "1"}, {"a": {"b": {"c": {"d": {}}}}}]),
    st.text(max_size=40),
    st.integers(),
)  # fmt: skip
EXTRA = st.sampled_from(["id", "status", "institution_id", "amount_paid", "api_key", "__proto__"])


def _fingerprint(engine: Engine) -> dict[str, int]:
    """How many rows every table holds (the service's and the ledger's)."""
    from ledger.schema import metadata as ledger_metadata

    tables = [*Base.metadata.sorted_tables, *ledger_metadata.sorted_tables]
    with engine.connect() as c:
        return {t.name: int(c.scalar(select(func.count()).select_from(t)) or 0) for t in tables}


def _mutated(valid: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body = dict(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()) or not body:
            body[data.draw(EXTRA)] = data.draw(HOSTILE)  # an unknown or read-only field
        else:
            body[data.draw(st.sampled_from(sorted(body)))] = data.draw(HOSTILE)
    return body


def _targets(w: World, paid: dict[str, Any]) -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, path, headers, a valid body) for writes of the institution, the parent and a
    regulator, and a bank's deposit."""
    key, reg = bearer(w.key), bearer(w.reg)
    parent = w.parent(paid)
    return [
        ("POST", "/api/v1/enrollments", key, {"course_id": w.course["id"], "student_ref": "f",
                                              "lessons": 2, "amount": "40.00"}),
        ("POST", f"/api/v1/enrollments/{paid['id']}/consumptions", key,
         {"lessons": 1, "occurred_at": w.clock.now.isoformat()}),
        ("POST", "/api/v1/closure", key, {"effective": "2027-06-30", "reason": "f"}),
        ("POST", "/api/v1/parent/refunds", parent, {"lessons": 1, "reason": "f"}),
        ("POST", "/api/v1/parent/complaints", parent, {"category": "other", "text": "f"}),
        ("POST", f"/api/v1/institutions/{w.inst_id}/freeze", reg, {"reason": "f"}),
        ("POST", "/api/v1/region-settings", reg, {"region_code": "220102",
                                                  "key": "refund_respond_days", "value": 5}),
        ("POST", "/api/v1/risk/sweeps", reg, {"as_of": w.clock.now.isoformat()}),
        ("BANK", "/api/v1/bank/deposits", {}, {"bank_txn_id": "F1", "account_no": w.escrow,
                                               "payment_reference": "X", "amount": "1.00",
                                               "paid_at": w.clock.now.isoformat()}),
    ]  # fmt: skip


def _send(w: World, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
    if method == "BANK":
        return w.signed("POST", path, body)
    raw = json.dumps(body, allow_nan=True).encode()
    return w.client.post(path, content=raw, headers={**headers, "content-type": "application/json"})


def test_hostile_bodies_never_crash_and_a_refusal_changes_nothing(
    world: World, engine: Engine
) -> None:
    paid = world.enroll(lessons=4, amount="80.00")
    assert world.pay(paid).status_code == 201
    world.clock.now += timedelta(hours=8)
    targets = _targets(world, paid)

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        method, path, headers, valid = data.draw(st.sampled_from(targets))
        body = _mutated(valid, data)
        before = _fingerprint(engine)
        r = _send(world, method, path, headers, body)
        assert r.status_code < 500, (path, body, r.text)
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert _fingerprint(engine) == before, (path, body, r.status_code, r.text)

    fuzz()
