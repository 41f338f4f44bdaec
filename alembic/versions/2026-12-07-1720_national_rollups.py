"""The national view's rollup tables (issue 37): what a province publishes by logical
replication and the national database receives, the province in every key.

Revision ID: 5d2e9a7c4b18
Revises: 7a1e4b9d2c65
Create Date: 2026-12-07 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "5d2e9a7c4b18"
down_revision: str | Sequence[str] | None = "7a1e4b9d2c65"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _total() -> ledger.types.MoneyTotal:
    return ledger.types.MoneyTotal(precision=24, scale=2)


def _money() -> ledger.types.Money:
    return ledger.types.Money(precision=18, scale=2)


def _when() -> ledger.types.UTCDateTime:
    return ledger.types.UTCDateTime(timezone=True)


def _key(column: str) -> list[sa.Column[str]]:
    return [
        sa.Column("province", sa.String(length=6), nullable=False),
        sa.Column(column, sa.String(length=40 if column.endswith("_id") else 6), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "national_provinces",
        sa.Column("province", sa.String(length=6), nullable=False),
        sa.Column("refreshed_at", _when(), nullable=False),
        *(sa.Column(c, sa.Integer(), nullable=False)
          for c in ("institutions", "critical", "high", "medium", "low", "unevaluated")),
        sa.Column("escrow", _total(), nullable=False),
        sa.Column("owed", _total(), nullable=False),
        sa.Column("with_statement", sa.Integer(), nullable=False),
        sa.Column("escrow_reported", _total(), nullable=False),
        sa.Column("bank_balance", _total(), nullable=False),
        sa.Column("open_alerts", sa.Integer(), nullable=False),
        sa.Column("open_wind_downs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("province", name=op.f("pk_national_provinces")),
    )  # fmt: skip
    op.create_table(
        "national_districts",
        *_key("region_code"),
        sa.Column("institutions", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("high", sa.Integer(), nullable=False),
        sa.Column("escrow", _total(), nullable=False),
        sa.Column("owed", _total(), nullable=False),
        sa.Column("with_statement", sa.Integer(), nullable=False),
        sa.Column("escrow_reported", _total(), nullable=False),
        sa.Column("bank_balance", _total(), nullable=False),
        sa.PrimaryKeyConstraint("province", "region_code", name=op.f("pk_national_districts")),
    )
    op.create_table(
        "national_institutions",
        *_key("institution_id"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("escrow", _money(), nullable=False),
        sa.Column("owed", _money(), nullable=False),
        sa.Column("bank_balance", _money(), nullable=True),
        sa.Column("bank_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint(
            "province", "institution_id", name=op.f("pk_national_institutions")
        ),
    )
    op.create_table(
        "national_alerts",
        *_key("alert_id"),
        sa.Column("institution_id", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("province", "alert_id", name=op.f("pk_national_alerts")),
    )
    op.create_table(
        "national_wind_downs",
        *_key("wind_down_id"),
        sa.Column("institution_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("effective_at", _when(), nullable=False),
        sa.Column("shortfall", _money(), nullable=False),
        sa.PrimaryKeyConstraint("province", "wind_down_id", name=op.f("pk_national_wind_downs")),
    )


def downgrade() -> None:
    for table in ("national_wind_downs", "national_alerts", "national_institutions",
                  "national_districts", "national_provinces"):  # fmt: skip
        op.drop_table(table)
