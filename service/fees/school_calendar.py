"""Regional school calendars: winter and summer vacations, set by regulators per year."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.fees.models import SchoolVacation
from service.kit.ids import new_id
from service.registry.institutions import audit, region_of_regulator
from service.registry.models import Regulator

# A vacation is a school break, not a way to switch the vacation rule on for years: without a
# bound, one from 2026 to 2099 made every subject course filed in the region refused. China's
# longest break, the summer's, is about two months; a quarter leaves room for any region's.
MAX_VACATION_DAYS = 92
MAX_VACATIONS_A_YEAR = 10


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


def publish(
    session: Session,
    *,
    regulator: Regulator,
    region_code: str,
    year: int,
    vacations: list[tuple[str, date, date]],
    now: datetime,
) -> list[SchoolVacation]:
    """A regulator sets a region's vacations for a year (each must start in it). Audited."""
    region_of_regulator(regulator, region_code)
    if len(vacations) > MAX_VACATIONS_A_YEAR:
        raise DomainError("validation_error", f"at most {MAX_VACATIONS_A_YEAR} vacations a year")
    for name, start, end in vacations:
        if start.year != year:
            raise DomainError("validation_error", f"vacation {name} does not start in {year}")
        if end < start:
            raise DomainError("validation_error", f"vacation {name} ends before it starts")
        if (end - start).days + 1 > MAX_VACATION_DAYS:
            raise DomainError(
                "validation_error", f"vacation {name} is longer than {MAX_VACATION_DAYS} days"
            )
    rows = set_year(session, region_code=region_code, year=year, vacations=vacations)
    audit(session, actor=f"regulator:{regulator.id}", action="school_calendar:set",
          subject=region_code, detail={"year": year, "vacations": len(rows)}, now=now,
          region_code=region_code)  # fmt: skip
    return rows


def of_regulator(
    session: Session, *, regulator: Regulator, region_code: str
) -> list[SchoolVacation]:
    return of_region(session, region_of_regulator(regulator, region_code))
