"""What the national regulator reads: the provinces' rollups as their subscriptions brought
them, each province with its own as-of (`refreshed_at`). A province's figures are one refresh
of that province, whole; two provinces' figures may stand at different instants, and a
national total sums them as they stand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from service.flows.positions import ZERO, coverage
from service.national.models import (
    NationalAlert,
    NationalDistrict,
    NationalInstitution,
    NationalProvince,
    NationalSync,
    NationalWindDown,
)

LATE_SECONDS = 60  # a province not refreshed for this long is shown as late (the goal: < 60 s)
SHOWN = 200  # rows of one list on a province's page


@dataclass(frozen=True)
class ProvinceLine:
    row: NationalProvince
    age_seconds: int  # how long ago, by this server's clock, the province refreshed

    @property
    def coverage(self) -> Decimal | None:
        if not self.row.with_statement:
            return None
        return coverage(self.row.bank_balance, self.row.escrow_reported)

    @property
    def late(self) -> bool:
        return self.age_seconds > LATE_SECONDS


@dataclass(frozen=True)
class Totals:
    institutions: int
    critical: int
    high: int
    escrow: Decimal
    owed: Decimal
    coverage: Decimal | None
    open_alerts: int
    open_wind_downs: int


def provinces(session: Session, *, now: datetime) -> list[ProvinceLine]:
    """The provinces whose figures are one refresh of theirs: not those being copied whole
    again after their leader changed (`resyncing`), whose tables may stand at different
    instants until the copy is done."""
    away = select(NationalSync.province).where(NationalSync.state == "resyncing")
    rows = session.scalars(select(NationalProvince).where(NationalProvince.province.not_in(away))
                           .order_by(NationalProvince.province))  # fmt: skip
    return [ProvinceLine(r, max(0, int((now - r.refreshed_at).total_seconds()))) for r in rows]


def resyncing(session: Session) -> list[NationalSync]:
    """The provinces being copied whole again (service.national.follow), with the as-of of
    the last figures the national database had of them."""
    return list(session.scalars(select(NationalSync).where(NationalSync.state == "resyncing")
                                .order_by(NationalSync.province)))  # fmt: skip


def totals(lines: list[ProvinceLine]) -> Totals:
    """The provinces' figures summed as each stands (not one instant)."""
    rows = [line.row for line in lines]
    reported = sum((r.escrow_reported for r in rows), ZERO)
    bank = sum((r.bank_balance for r in rows), ZERO)
    return Totals(
        institutions=sum(r.institutions for r in rows),
        critical=sum(r.critical for r in rows),
        high=sum(r.high for r in rows),
        escrow=sum((r.escrow for r in rows), ZERO),
        owed=sum((r.owed for r in rows), ZERO),
        coverage=coverage(bank, reported) if any(r.with_statement for r in rows) else None,
        open_alerts=sum(r.open_alerts for r in rows),
        open_wind_downs=sum(r.open_wind_downs for r in rows),
    )


@dataclass(frozen=True)
class ProvinceFile:
    line: ProvinceLine
    districts: list[NationalDistrict]
    flagged: list[NationalInstitution]  # at critical or high, the most severe first
    alerts: list[tuple[NationalAlert, str]]  # with the institution's name
    wind_downs: list[tuple[NationalWindDown, str]]


def province(session: Session, code: str, *, now: datetime) -> ProvinceFile | None:
    """None: no figures of that province, or none to show while it is copied whole again."""
    row = session.get(NationalProvince, code)
    sync = session.get(NationalSync, code)
    if row is None or (sync is not None and sync.state == "resyncing"):
        return None
    line = ProvinceLine(row, max(0, int((now - row.refreshed_at).total_seconds())))
    districts = list(session.scalars(
        select(NationalDistrict).where(NationalDistrict.province == code)
        .order_by(NationalDistrict.region_code)
    ))  # fmt: skip
    rank = case((NationalInstitution.level == "critical", 2), else_=1)
    flagged = list(session.scalars(
        select(NationalInstitution)
        .where(NationalInstitution.province == code,
               NationalInstitution.level.in_(("critical", "high")))
        .order_by(rank.desc(), NationalInstitution.score.desc(), NationalInstitution.escrow.desc(),
                  NationalInstitution.institution_id)
        .limit(SHOWN)
    ))  # fmt: skip
    alerts = [(a, name) for a, name in session.execute(
        select(NationalAlert, NationalInstitution.name)
        .join(NationalInstitution, (NationalInstitution.province == NationalAlert.province)
              & (NationalInstitution.institution_id == NationalAlert.institution_id))
        .where(NationalAlert.province == code)
        .order_by(NationalAlert.opened_at.desc(), NationalAlert.alert_id).limit(SHOWN)
    )]  # fmt: skip
    wind_downs = [(d, name) for d, name in session.execute(
        select(NationalWindDown, NationalInstitution.name)
        .join(NationalInstitution, (NationalInstitution.province == NationalWindDown.province)
              & (NationalInstitution.institution_id == NationalWindDown.institution_id))
        .where(NationalWindDown.province == code)
        .order_by(NationalWindDown.effective_at.desc(), NationalWindDown.wind_down_id)
        .limit(SHOWN)
    )]  # fmt: skip
    return ProvinceFile(line=line, districts=districts, flagged=flagged, alerts=alerts,
                        wind_downs=wind_downs)  # fmt: skip


def district_coverage(d: NationalDistrict) -> Decimal | None:
    return coverage(d.bank_balance, d.escrow_reported) if d.with_statement else None
