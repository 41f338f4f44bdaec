"""Rule packs (issue 33): every version of a region's pack per sector; region_settings moved
into them and dropped.

Each region's settings become versions of its `all` layer: one version per day a setting took
effect, defining the settings that took effect that day, converted to the rules the keys now
are (a version defines the rules it names; the earlier versions' others hold, as each key
held alone in the old table). The conversion is written out here, not imported, so this migration does what
it did whatever the code becomes. Downgrade recreates the table from the `all` layers'
versions of those rules.

Revision ID: 5e2b8c1d7f30
Revises: 5d2b8e1f4a60
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from ledger.types import UTCDateTime

revision: str = "5e2b8c1d7f30"
down_revision: str | Sequence[str] | None = "5d2b8e1f4a60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# key → (rule, the value as the rule's)
_RULES: dict[str, tuple[str, Any]] = {
    "confirmation_window_days": ("confirmation_window", lambda v: {"days": v}),
    "refund_respond_days": ("refund_answer_deadline", lambda v: {"days": v}),
    "auto_freeze_on_critical": ("auto_freeze_on_critical", lambda v: {"enabled": v}),
    "case_snooze_max_days": ("case_snooze_max", lambda v: {"days": v}),
    "parent_warning_from": ("parent_warning_from", lambda v: {"level": v}),
    "parent_warning_score": ("parent_warning_score", lambda v: {"enabled": v}),
    "risk_thresholds": ("risk_thresholds", lambda v: v),
}
_BACK: dict[str, tuple[str, Any]] = {
    "confirmation_window": ("confirmation_window_days", lambda v: v.get("days", v.get("working_days"))),
    "refund_answer_deadline": ("refund_respond_days", lambda v: v.get("days", v.get("working_days"))),
    "auto_freeze_on_critical": ("auto_freeze_on_critical", lambda v: v["enabled"]),
    "case_snooze_max": ("case_snooze_max_days", lambda v: v["days"]),
    "parent_warning_from": ("parent_warning_from", lambda v: v["level"]),
    "parent_warning_score": ("parent_warning_score", lambda v: v["enabled"]),
    "risk_thresholds": ("risk_thresholds", lambda v: v),
}  # fmt: skip


def _packs() -> sa.Table:
    return sa.table(
        "rule_packs",
        sa.column("id", sa.String),
        sa.column("region_code", sa.String),
        sa.column("sector", sa.String),
        sa.column("version", sa.Integer),
        sa.column("effective_from", sa.Date),
        sa.column("rules", sa.JSON),
        sa.column("changed", sa.JSON),
        sa.column("reason", sa.Text),
        sa.column("actor", sa.String),
        sa.column("created_at", UTCDateTime()),
    )


def _settings() -> sa.Table:
    return sa.table(
        "region_settings",
        sa.column("region_code", sa.String),
        sa.column("key", sa.String),
        sa.column("effective_from", sa.Date),
        sa.column("value", sa.JSON),
        sa.column("updated_at", UTCDateTime()),
        sa.column("reason", sa.Text),
        sa.column("actor", sa.String),
    )


def upgrade() -> None:
    op.create_table(
        "rule_packs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("sector", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "region_code", "sector", "version", name="uq_rule_packs_version"
        ),
    )
    op.create_index(
        "ix_rule_packs_in_effect", "rule_packs", ["region_code", "effective_from"]
    )
    s = _settings()
    rows = op.get_bind().execute(
        sa.select(s).order_by(s.c.region_code, s.c.effective_from, s.c.key)
    ).mappings().all()
    by_region: dict[str, list[Any]] = {}
    for row in rows:
        if row["key"] in _RULES:
            by_region.setdefault(row["region_code"], []).append(row)
    out: list[dict[str, Any]] = []
    for region, items in by_region.items():
        days = sorted({i["effective_from"] for i in items})
        for n, day in enumerate(days, start=1):
            today = [i for i in items if i["effective_from"] == day]
            whole: dict[str, Any] = {}
            changed = []
            for i in today:
                rule, convert = _RULES[i["key"]]
                source = {
                    "title": "Region setting (moved from region_settings)",
                    "issuer": i["actor"] or "TuitionGuard",
                }
                if i["reason"]:
                    source["note"] = str(i["reason"])[:300]
                whole[rule] = {"value": convert(i["value"]), "source": source}
                changed.append(rule)
            last = max(today, key=lambda i: i["updated_at"] or datetime.min.replace(tzinfo=UTC))
            out.append(
                {
                    "id": f"rpk_{uuid.uuid4().hex[:24]}",
                    "region_code": region,
                    "sector": "all",
                    "version": n,
                    "effective_from": day,
                    "rules": dict(whole),
                    "changed": sorted(changed),
                    "reason": last["reason"],
                    "actor": last["actor"] or "migration",
                    "created_at": last["updated_at"] or datetime.now(UTC),
                }
            )
    if out:
        op.bulk_insert(_packs(), out)
    op.drop_table("region_settings")


def downgrade() -> None:
    op.create_table(
        "region_settings",
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint(
            "region_code", "key", "effective_from", name="pk_region_settings"
        ),
    )
    p = _packs()
    rows = op.get_bind().execute(
        sa.select(p).where(p.c.sector == "all").order_by(p.c.version)
    ).mappings().all()
    back: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for row in rows:
        for rule in row["changed"] or []:
            if rule not in _BACK or rule not in (row["rules"] or {}):
                continue
            key, convert = _BACK[rule]
            back[(row["region_code"], key, row["effective_from"])] = {
                "region_code": row["region_code"],
                "key": key,
                "effective_from": row["effective_from"],
                "value": convert(row["rules"][rule]["value"]),
                "updated_at": row["created_at"],
                "reason": row["reason"],
                "actor": row["actor"],
            }
    if back:
        op.bulk_insert(_settings(), list(back.values()))
    op.drop_index("ix_rule_packs_in_effect", table_name="rule_packs")
    op.drop_table("rule_packs")
