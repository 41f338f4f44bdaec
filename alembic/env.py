"""Alembic environment: the service's and the ledger's metadata, one URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import pool

import service.tables  # noqa: F401  (registers every table on Base.metadata)
from ledger.schema import metadata as ledger_metadata
from service.kit.db import Base, make_engine, normalise_url

config = context.config
target_metadata = [ledger_metadata, Base.metadata]


def _url() -> str:
    """The URL given by `service.kit.migrate`, else DATABASE_URL, else alembic.ini's fallback."""
    url = (
        config.attributes.get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    return normalise_url(str(url))


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = _url()
    sqlite = url.startswith("sqlite")
    engine = make_engine(url) if sqlite else make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        if sqlite:
            # Batch mode rebuilds a table by copy, drop and rename, which a table referenced by
            # a foreign key (ledger_transfers, by its resolutions) cannot survive with foreign
            # keys on. SQLite only switches them outside a transaction; they are checked in
            # full before the migration commits instead, and on again for the next user.
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            compare_type=True,
            render_as_batch=sqlite,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left broken foreign keys: {broken[:5]}")
        if sqlite:
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
