"""Money decisions read the primary only (service.kit.replica): the rule held structurally.

A route that writes (any method but GET and HEAD) never takes the read session
(`service.api.deps.ReadSessionDep`), directly or through any dependency; the domains that
move money cannot open one (the import contract "Money use cases never take a read
replica's session" in pyproject.toml); and a replica's session refuses to flush a change."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import create_engine

from service.api import deps
from service.app import routers
from service.kit.replica import ReadOnlyViolation, lsn, read_sessionmaker
from service.registry.models import Regulator


def _calls(dependant: Any) -> set[Any]:
    found = {dependant.call}
    for sub in dependant.dependencies:
        found |= _calls(sub)
    return found


def _routes() -> list[tuple[str, APIRoute]]:
    out = []
    for router, prefix, _ in routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            out.append((prefix + route.path, route))
    return out


def test_no_route_that_writes_takes_the_read_session() -> None:
    writing = [(p, r) for p, r in _routes() if set(r.methods) - {"GET", "HEAD"}]
    assert len(writing) > 50  # the rule looked at the service's routes
    offenders = [p for p, r in writing if deps._read_session in _calls(r.dependant)]
    assert offenders == []


def test_the_pages_and_the_disclosure_read_with_the_read_session() -> None:
    reading = {p for p, r in _routes() if deps._read_session in _calls(r.dependant)}
    for path in (
        "/workbench",
        "/workbench/institutions",
        "/workbench/institutions/{institution_id}",
        "/workbench/alerts",
        "/workbench/audit",
        "/api/v1/public/institutions/{credit_code}",
    ):
        assert path in reading, path


def test_a_read_session_refuses_to_write() -> None:
    engine = create_engine("sqlite://")
    with read_sessionmaker(engine)() as s:
        s.add(Regulator(id="reg_x", name="x", region_code="220000", token_hash="h"))
        with pytest.raises(ReadOnlyViolation):
            s.flush()


def test_wal_positions_read_as_byte_offsets() -> None:
    assert lsn("0/0") == 0
    assert lsn("16/B374D848") - lsn("16/B374D000") == 0x848
    assert lsn("1/0") == 2**32
