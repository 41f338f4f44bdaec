"""Schema by migrations only: an empty database migrates to head, and the models match."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

import service.tables  # noqa: F401
from ledger.schema import metadata as ledger_metadata
from service.kit.db import Base
from service.kit.migrate import current_revision, head_revision


def test_fresh_database_is_at_head(fresh_engine: Engine) -> None:
    assert current_revision(fresh_engine) == head_revision()


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, [ledger_metadata, Base.metadata])
    assert diff == []
