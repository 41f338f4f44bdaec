"""An institution's API keys (issue 32): several at once, each named, listed, revoked at once,
rotated without downtime (the replaced key works through the overlap, then stops), kept as
hashes and shown once; the last live key cannot be revoked. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from service.kit.db import make_sessionmaker, session_scope
from service.kit.ids import token_hash
from service.registry.models import AuditEvent, InstitutionKey
from tests.api.conftest import bearer
from tests.api.test_flows import World

KEYS = "/api/v1/api-keys"


def _works(w: World, key: str) -> bool:
    r = w.client.get("/api/v1/balances", headers=bearer(key))
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def test_keys_are_named_listed_hashed_shown_once_and_revoked(world: World, engine: Engine) -> None:
    h = bearer(world.key)
    (first,) = world.client.get(KEYS, headers=h).json()["items"]
    assert first["name"] == "first key" and "api_key" not in first
    made = world.client.post(KEYS, headers=h, json={"name": "billing system"})
    assert made.status_code == 201, made.text
    billing = made.json()
    assert billing["api_key"].startswith("tgi_") and _works(world, billing["api_key"])
    listed = world.client.get(KEYS, headers=h).json()["items"]
    assert {k["name"] for k in listed} == {"first key", "billing system"}
    assert all("api_key" not in k for k in listed)
    with session_scope(make_sessionmaker(engine)) as s:
        row = s.get(InstitutionKey, billing["id"])
        assert row is not None and row.key_hash == token_hash(billing["api_key"])
    r = world.client.post(f"{KEYS}/{first['id']}/revoke", headers=bearer(billing["api_key"]))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert not _works(world, world.key) and _works(world, billing["api_key"])
    last = world.client.post(f"{KEYS}/{billing['id']}/revoke", headers=bearer(billing["api_key"]))
    assert (last.status_code, last.json()["code"]) == (409, "last_key")
    assert _works(world, billing["api_key"])  # nothing changed
    with session_scope(make_sessionmaker(engine)) as s:
        actions = set(s.scalars(select(AuditEvent.action).where(
            AuditEvent.institution_id == world.inst_id, AuditEvent.action.like("institution:key%"))))  # fmt: skip
        assert actions == {"institution:key_issue", "institution:key_revoke"}


def test_a_key_is_rotated_without_downtime(world: World) -> None:
    h = bearer(world.key)
    (first,) = world.client.get(KEYS, headers=h).json()["items"]
    r = world.client.post(f"{KEYS}/{first['id']}/rotate", headers=h, json={"overlap_hours": 2})
    assert r.status_code == 201, r.text
    new, previous = r.json()["new"], r.json()["previous"]
    assert new["name"] == "first key" and previous["id"] == first["id"]
    # Both work through the overlap: the systems switch over with nothing refused.
    world.clock.now += timedelta(hours=1, minutes=59)
    assert _works(world, world.key) and _works(world, new["api_key"])
    world.clock.now += timedelta(minutes=2)
    assert not _works(world, world.key) and _works(world, new["api_key"])
    again = world.client.post(
        f"{KEYS}/{first['id']}/rotate", headers=bearer(new["api_key"]), json={}
    )
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    too_long = world.client.post(f"{KEYS}/{new['id']}/rotate", headers=bearer(new["api_key"]),
                                 json={"overlap_hours": 169})  # fmt: skip
    assert too_long.status_code == 422
    # The expired key no longer counts as live: the new one is the last.
    last = world.client.post(f"{KEYS}/{new['id']}/revoke", headers=bearer(new["api_key"]))
    assert (last.status_code, last.json()["code"]) == (409, "last_key")


def test_a_regulator_or_a_parent_has_no_keys_here(world: World) -> None:
    r = world.client.get(KEYS, headers=bearer(world.reg))
    assert r.status_code == 401


def test_two_revocations_at_once_leave_a_key_that_works(world: World, engine: Engine) -> None:
    """The institution's two live keys revoked by two callers at once: exactly one revocation
    holds, the other is refused (the last key), and one key still opens the door."""
    import threading
    from datetime import UTC, datetime

    from service.errors import DomainError
    from service.registry import institution_keys
    from service.registry.models import Institution

    second = world.client.post(KEYS, headers=bearer(world.key), json={"name": "second"}).json()
    ids = [k["id"] for k in world.client.get(KEYS, headers=bearer(world.key)).json()["items"]]
    assert len(ids) == 2
    sessions = make_sessionmaker(engine)
    barrier, outcomes = threading.Barrier(2), []

    def revoke(key_id: str) -> None:
        try:
            with session_scope(sessions) as s:
                inst = s.get(Institution, world.inst_id)
                assert inst is not None
                if engine.dialect.name == "postgresql":  # SQLite's writers queue at BEGIN
                    barrier.wait(timeout=10)
                institution_keys.revoke(s, institution=inst, key_id=key_id,
                                        now=datetime.now(UTC), actor="test")  # fmt: skip
            outcomes.append("revoked")
        except DomainError as exc:
            outcomes.append(exc.code)
        except Exception as exc:  # a write the database refused: a loser too
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=revoke, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes.count("revoked") == 1, outcomes
    assert _works(world, world.key) != _works(world, second["api_key"])  # exactly one works
