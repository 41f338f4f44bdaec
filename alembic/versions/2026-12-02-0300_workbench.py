"""the regulator's workbench

- institution_risk: each institution's latest evaluation (kept by every sweep, backfilled here
  from the history), so lists and overviews of thousands of institutions read one row each;
- district_days: per district and day, the count at each level and the money supervised, the
  overview's trends;
- risk_alerts: case work (assignee, snooze, escalation, outcome);
- audit_events: the region and institution an action concerns (who may read it);
- statements: reviewed by whom and when;
- page_sessions: the workbench's server-side sign-in sessions;
- region_settings: effective from a day, with its reason and actor; past versions kept.

Revision ID: 5e8b2d4f6a19
Revises: 1d7f5a2c8e64
Create Date: 2026-12-02 03:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = '5e8b2d4f6a19'
down_revision: str | Sequence[str] | None = '1d7f5a2c8e64'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LATEST = """
INSERT INTO institution_risk (institution_id, score, level, as_of)
SELECT e.institution_id, e.score, e.level, e.as_of FROM risk_evaluations e
 WHERE e.id = (SELECT e2.id FROM risk_evaluations e2 WHERE e2.institution_id = e.institution_id
                ORDER BY e2.as_of DESC, e2.created_at DESC LIMIT 1)
"""


def upgrade() -> None:
    utc = ledger.types.UTCDateTime
    op.create_table(
        "institution_risk",
        sa.Column("institution_id", sa.String(40), sa.ForeignKey("institutions.id"),
                  primary_key=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("as_of", utc(), nullable=False),
    )
    op.create_index("ix_institution_risk_level", "institution_risk", ["level", "score"])
    op.execute(_LATEST)
    op.create_table(
        "district_days",
        sa.Column("region_code", sa.String(6), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        *(sa.Column(lvl, sa.Integer(), nullable=False) for lvl in ("low", "medium", "high",
                                                                   "critical")),
        *(sa.Column(m, ledger.types.Money(), nullable=False) for m in ("escrow", "bank_balance",
                                                                       "owed")),
    )
    op.create_index("ix_district_days_day", "district_days", ["day"])
    for name, col in [
        ("assignee_id", sa.String(40)), ("snoozed_until", utc()), ("snooze_reason", sa.Text()),
        ("escalated_to", sa.String(6)), ("escalated_at", utc()), ("outcome", sa.String(24)),
    ]:
        op.add_column("risk_alerts", sa.Column(name, col, nullable=True))
    op.add_column("audit_events", sa.Column("region_code", sa.String(6), nullable=True))
    op.add_column("audit_events", sa.Column("institution_id", sa.String(40), nullable=True))
    op.create_index("ix_audit_events_region_code", "audit_events", ["region_code"])
    op.create_index("ix_audit_events_institution_id", "audit_events", ["institution_id"])
    op.add_column("statements", sa.Column("reviewed_at", utc(), nullable=True))
    op.add_column("statements", sa.Column("reviewed_by", sa.String(40), nullable=True))
    op.create_table(
        "page_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("regulator_id", sa.String(40), sa.ForeignKey("regulators.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("expires_at", utc(), nullable=False),
    )
    op.create_index("ix_page_sessions_expires", "page_sessions", ["expires_at"])
    with op.batch_alter_table("region_settings", recreate="always") as batch_op:
        batch_op.add_column(
            sa.Column("effective_from", sa.Date(), nullable=False, server_default="2000-01-01")
        )
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("actor", sa.String(80), nullable=True))
        batch_op.drop_constraint("pk_region_settings", type_="primary")
        batch_op.create_primary_key(
            "pk_region_settings", ["region_code", "key", "effective_from"]
        )
    with op.batch_alter_table("region_settings") as batch_op:
        batch_op.alter_column("effective_from", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("region_settings", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_region_settings", type_="primary")
        batch_op.drop_column("actor")
        batch_op.drop_column("reason")
        batch_op.drop_column("effective_from")
        batch_op.create_primary_key("pk_region_settings", ["region_code", "key"])
    op.drop_table("page_sessions")
    with op.batch_alter_table("statements") as batch_op:
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("reviewed_at")
    op.drop_index("ix_audit_events_institution_id", table_name="audit_events")
    op.drop_index("ix_audit_events_region_code", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_column("institution_id")
        batch_op.drop_column("region_code")
    with op.batch_alter_table("risk_alerts") as batch_op:
        for name in ("outcome", "escalated_at", "escalated_to", "snooze_reason",
                     "snoozed_until", "assignee_id"):
            batch_op.drop_column(name)
    op.drop_table("district_days")
    op.drop_table("institution_risk")
