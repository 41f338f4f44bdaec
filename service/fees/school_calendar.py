"""Regional school calendars: winter and summer vacations, set by regulators per year."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.fees.models import SchoolVacation
from service.kit.ids import new_id


def set_year(
    session: Session, *, region_code: str, year: int, vacations: list[tuple[str, date, date]]
) -> list[SchoolVacation]:
    """Replace the region's vacations starting in `year` with `vacations`."""
    session.execute(
        delete(SchoolVacation).where(
            SchoolVacation.region_code == region_code,
            SchoolVacation.start_date >= date(year, 1, 1),
            SchoolVacation.start_date <= date(year, 12, 31),
        )
    )
    rows = [
        SchoolVacation(id=new_id("vac"), region_code=region_code, name=n, start_date=s, end_date=e)
        for n, s, e in vacations
    ]
    session.add_all(rows)
    session.flush()
    return rows


def of_region(session: Session, region_code: str) -> list[SchoolVacation]:
    return list(
        session.scalars(
            select(SchoolVacation)
            .where(SchoolVacation.region_code == region_code)
            .order_by(SchoolVacation.start_date)
        )
    )
