"""A province's rollups for the national view, recomputed from the province's own tables and
written where they changed (the `national_rollups` job, every 15 s on the provincial primary).

Logical replication sends what a transaction changed, so the refresh writes only the rows
whose figures moved, deletes the rows of what is gone, and always rewrites the province's own
row (`refreshed_at`: the instant the national view shows as that province's as-of). All of
one province's rows are written in one transaction, which a subscription applies whole.

Only the provinces this database holds institutions of are touched: on the national database
(no institutions of its own) the refresh writes nothing, and the rows its subscriptions bring
are never deleted by it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from service.flows.models import WindDown
from service.flows.positions import ZERO, _day, per_institution
from service.national.models import (
    NationalAlert,
    NationalDistrict,
    NationalInstitution,
    NationalProvince,
    NationalWindDown,
)
from service.registry.models import Institution
from service.risk.models import Alert, InstitutionRisk

NATIONAL = "100000"  # the national platform's region code (not a GB/T 2260 division)
EVERY_SECONDS = 15  # how often a province refreshes: its rollups lag it by at most this much
LEVELS = ("critical", "high", "medium", "low")

Row = dict[str, Any]
Key = tuple[str, str]


def province_of(region_code: str) -> str:
    """`220402` → `220000`."""
    return region_code[:2] + "0000"


@dataclass
class Wanted:
    """What the rollup tables should hold, keyed by (province, id)."""

    institutions: dict[Key, Row] = field(default_factory=dict)
    districts: dict[Key, Row] = field(default_factory=dict)
    alerts: dict[Key, Row] = field(default_factory=dict)
    wind_downs: dict[Key, Row] = field(default_factory=dict)
    provinces: dict[str, Row] = field(default_factory=dict)


def refresh(session: Session, *, now: datetime) -> dict[str, int]:
    """Recompute this database's provinces' rollups as of `now` and write what changed.
    Returns how many rows were written (inserted, updated, deleted) and the provinces."""
    wanted = compute(session, now=now)
    provinces = set(wanted.provinces)
    written = 0
    for model, rows, id_column in (
        (NationalInstitution, wanted.institutions, "institution_id"),
        (NationalDistrict, wanted.districts, "region_code"),
        (NationalAlert, wanted.alerts, "alert_id"),
        (NationalWindDown, wanted.wind_downs, "wind_down_id"),
    ):
        written += _sync(session, model, id_column, rows, provinces)
    province_rows = {(p, p): row for p, row in wanted.provinces.items()}
    written += _sync(session, NationalProvince, "province", province_rows, provinces)
    session.flush()
    return {"provinces": len(provinces), "rows_written": written}


def compute(session: Session, *, now: datetime) -> Wanted:
    """The rollups of every province this database holds institutions of, as of now."""
    w = Wanted()
    pos = per_institution()
    for r in session.execute(
        select(Institution.id, Institution.name, Institution.region_code, Institution.status,
               InstitutionRisk.level, InstitutionRisk.score, pos.c.escrow, pos.c.owed,
               pos.c.bank_balance, pos.c.bank_day)
        .join(pos, pos.c.institution_id == Institution.id)
        .outerjoin(InstitutionRisk, InstitutionRisk.institution_id == Institution.id)
    ):  # fmt: skip
        p = province_of(r.region_code)
        w.institutions[(p, r.id)] = {
            "name": r.name, "region_code": r.region_code, "status": r.status, "level": r.level,
            "score": r.score, "escrow": r.escrow, "owed": r.owed,
            "bank_balance": r.bank_balance, "bank_day": _day(r.bank_day),
        }  # fmt: skip
    for (p, _id), row in w.institutions.items():
        _add(w.provinces.setdefault(p, _blank_province(now)), row)
        _add(w.districts.setdefault((p, row["region_code"]), _blank_district()), row)
    for a in session.execute(
        select(Alert.id, Alert.institution_id, Alert.level, Alert.status, Alert.opened_at,
               Institution.region_code)
        .join(Institution, Institution.id == Alert.institution_id)
        .where(Alert.status != "resolved")
    ):  # fmt: skip
        p = province_of(a.region_code)
        w.alerts[(p, a.id)] = {"institution_id": a.institution_id, "level": a.level,
                               "status": a.status, "opened_at": a.opened_at}  # fmt: skip
        w.provinces[p]["open_alerts"] += 1
    for d in session.execute(
        select(WindDown.id, WindDown.institution_id, WindDown.reason, WindDown.status,
               WindDown.effective_at, WindDown.shortfall, Institution.region_code)
        .join(Institution, Institution.id == WindDown.institution_id)
    ):  # fmt: skip
        p = province_of(d.region_code)
        w.wind_downs[(p, d.id)] = {
            "institution_id": d.institution_id, "reason": d.reason, "status": d.status,
            "effective_at": d.effective_at, "shortfall": d.shortfall,
        }  # fmt: skip
        w.provinces[p]["open_wind_downs"] += d.status == "open"
    return w


def _blank_province(now: datetime) -> Row:
    return {"refreshed_at": now, "institutions": 0, **dict.fromkeys(LEVELS, 0),
            "unevaluated": 0, "escrow": ZERO, "owed": ZERO, "with_statement": 0,
            "escrow_reported": ZERO, "bank_balance": ZERO, "open_alerts": 0,
            "open_wind_downs": 0}  # fmt: skip


def _blank_district() -> Row:
    return {"institutions": 0, "critical": 0, "high": 0, "escrow": ZERO, "owed": ZERO,
            "with_statement": 0, "escrow_reported": ZERO, "bank_balance": ZERO}  # fmt: skip


def _add(total: Row, inst: Row) -> None:
    """Count one institution into a province's or a district's totals."""
    total["institutions"] += 1
    level = inst["level"] if inst["level"] in LEVELS else "unevaluated"
    if level in total:
        total[level] += 1
    total["escrow"] += inst["escrow"]
    total["owed"] += inst["owed"]
    if inst["bank_balance"] is not None:
        total["with_statement"] += 1
        total["escrow_reported"] += inst["escrow"]
        total["bank_balance"] += inst["bank_balance"]


def _sync(
    session: Session, model: Any, id_column: str, wanted: dict[Key, Row], provinces: set[str]
) -> int:
    """Make `model`'s rows of `provinces` what `wanted` says: insert the new, update the
    changed (only those), delete the gone. Returns the rows written."""
    if not provinces:
        return 0
    ident = getattr(model, id_column)
    columns = [c for c in model.__table__.columns.keys() if c not in ("province", id_column)]
    have: dict[Key, Row] = {}
    for row in session.execute(
        select(model.province, ident, *(getattr(model, c) for c in columns)).where(
            model.province.in_(sorted(provinces))
        )
    ):
        have[(row[0], row[1])] = dict(zip(columns, row[2:], strict=True))
    new = [_params(k, id_column, v) for k, v in wanted.items() if k not in have]
    changed = [
        _params(k, id_column, v) for k, v in wanted.items() if k in have and not _same(have[k], v)
    ]
    gone = [k for k in have if k not in wanted]
    if new:
        session.execute(insert(model), new)
    if changed:
        session.execute(update(model), changed)
    for p in {k[0] for k in gone}:
        ids = [k[1] for k in gone if k[0] == p]
        for i in range(0, len(ids), 500):
            session.execute(delete(model).where(model.province == p, ident.in_(ids[i : i + 500])))
    return len(new) + len(changed) + len(gone)


def _params(key: Key, id_column: str, row: Row) -> Row:
    return {"province": key[0], id_column: key[1], **row}


def _same(have: Row, want: Row) -> bool:
    """Equal figures (Decimal 1.00 == 1.0; instants compared as instants)."""
    return all(bool(have.get(k) == v) for k, v in want.items())
