"""China's holiday calendar, as a school day test for subject training.

Years the `chinesecalendar` package covers use the State Council's yearly arrangement: the
statutory holidays, the days off joined to them, and the make-up working days (调休) — a
weekend make-up day is a school day, a weekday inside a holiday is not. For a year whose
arrangement is not yet announced, the statutory holidays are computed (fixed dates, the lunar
festivals via `lunardate`, Qingming from the solar terms), with no make-up days.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import chinese_calendar
from lunardate import LunarDate


@lru_cache(maxsize=4096)
def school_day(day: date) -> tuple[bool, str | None]:
    """(is a school day, the reason it is not: 'weekend' or the holiday's name)."""
    try:
        if chinese_calendar.is_workday(day):
            return True, None
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        return False, (name if on_holiday and name else "weekend")
    except NotImplementedError:
        name = statutory_holidays(day.year).get(day)
        if name:
            return False, name
        return (day.weekday() < 5), (None if day.weekday() < 5 else "weekend")


@lru_cache(maxsize=64)
def statutory_holidays(year: int) -> dict[date, str]:
    """The 13 statutory days off of the 2025 rules (国务院令第795号), without the yearly
    arrangement of joined days."""
    days: dict[date, str] = {date(year, 1, 1): "New Year's Day"}
    spring = LunarDate(year, 1, 1).to_solar_date()
    for offset in range(-1, 3):
        days[spring + timedelta(days=offset)] = "Spring Festival"
    for d, term in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10)):
        if term == "清明":
            days[d] = "Tomb-sweeping Day"
    days[date(year, 5, 1)] = days[date(year, 5, 2)] = "Labour Day"
    days[LunarDate(year, 5, 5).to_solar_date()] = "Dragon Boat Festival"
    days[LunarDate(year, 8, 15).to_solar_date()] = "Mid-autumn Festival"
    for d in (1, 2, 3):
        days[date(year, 10, d)] = "National Day"
    return days
