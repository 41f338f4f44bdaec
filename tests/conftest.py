"""Shared fixtures: every database-backed test runs on SQLite and on a real PostgreSQL.

Each pytest run (each xdist worker) creates its own PostgreSQL database from
TEST_DATABASE_URL's server and drops it at the end; SQLite files live in a temp folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from service.config import Settings
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.tables import load_reference

# No per-example deadline: the suite shares two cores with PostgreSQL and Chromium, and a
# property's first example under load timed out at 335 ms where it takes 0.5 ms alone. The
# properties test invariants; speed is the benchmarks' business (bench/), never a timed test.
hypothesis_settings.register_profile("tuitionguard", deadline=None)
hypothesis_settings.load_profile("tuitionguard")

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _admin_dsn() -> str:
    url = make_url(PG_URL)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_pg_database() -> str:
    name = f"tg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_database(backend: str, tmp_dir: str) -> str:
    if backend == "postgresql":
        return create_pg_database()
    return f"sqlite:///{os.path.join(tmp_dir, f'tg_{uuid.uuid4().hex[:8]}.db')}"


def migrated_engine(url: str) -> Engine:
    upgrade(url)
    engine = make_engine(url)
    run_in_transaction(
        make_sessionmaker(engine), lambda s: load_reference(s, now=datetime.now(UTC))
    )
    return engine


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = new_database(backend, str(tmp_path_factory.mktemp("db")))
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = migrated_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def fresh_engine(backend: str, tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    """A database of its own, for tests that corrupt it on purpose."""
    url = new_database(backend, str(tmp_path))
    eng = migrated_engine(url)
    yield eng
    eng.dispose()
    if backend == "postgresql":
        drop_pg_database(url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key="test-secret-key-0123456789",
        log_signing_key="ab" * 32,
        scheduler_enabled=False,
        idempotency_wait_seconds=1,
        rate_limit_per_second=0,  # tests are one caller sending fast; its own test limits
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]
