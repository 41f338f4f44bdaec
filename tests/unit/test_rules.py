"""Every course rule at its boundary (docs/domain.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from service.fees import rules
from service.fees.prices import Band, Guide, GuideBook
from service.kit.clock import SHANGHAI

D = Decimal


def guides() -> GuideBook:
    def offline(region: str, eff: date, prices: list[tuple[int, int | None, str]]) -> list[Band]:
        return [
            Band(
                mode="offline",
                grade_band="any",
                class_size_min=lo,
                class_size_max=hi,
                standard_minutes=45,
                base_price=D(p),
                max_float_pct=D("10"),
            )
            for lo, hi, p in prices
        ]

    return GuideBook(
        [
            Guide(
                id="jilin",
                region_code="220000",
                effective_from=date(2022, 1, 1),
                bands=tuple(
                    offline(
                        "220000",
                        date(2022, 1, 1),
                        [(1, 9, "25.00"), (10, 35, "20.00"), (36, None, "15.00")],
                    )
                ),
            ),
            Guide(
                id="changchun",
                region_code="220100",
                effective_from=date(2022, 1, 1),
                bands=tuple(
                    offline(
                        "220100",
                        date(2022, 1, 1),
                        [(1, 9, "27.27"), (10, 35, "22.73"), (36, None, "18.18")],
                    )
                ),
            ),
            Guide(
                id="changchun-2027",
                region_code="220100",
                effective_from=date(2027, 3, 1),
                bands=tuple(
                    offline(
                        "220100",
                        date(2027, 3, 1),
                        [(1, 9, "50.00"), (10, 35, "40.00"), (36, None, "30.00")],
                    )
                ),
            ),
            Guide(
                id="bj",
                region_code="110000",
                effective_from=date(2022, 2, 21),
                bands=(
                    Band(
                        mode="offline",
                        grade_band="any",
                        class_size_min=1,
                        class_size_max=9,
                        standard_minutes=45,
                        base_price=D("80.00"),
                        max_float_pct=D("10"),
                    ),
                    Band(
                        mode="offline",
                        grade_band="any",
                        class_size_min=10,
                        class_size_max=35,
                        standard_minutes=45,
                        base_price=D("60.00"),
                        max_float_pct=D("10"),
                    ),
                    Band(
                        mode="online",
                        grade_band="any",
                        class_size_min=1,
                        class_size_max=None,
                        standard_minutes=30,
                        base_price=D("20.00"),
                        max_float_pct=D("10"),
                    ),
                ),
            ),
        ]
    )


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


MONDAY = date(2026, 11, 23)


def filing(**over) -> rules.Filing:
    base = dict(
        category="subject",
        grade_band="junior",
        mode="offline",
        class_size=20,
        lesson_minutes=45,
        lessons_total=1,
        price_per_lesson=D("20.00"),
        list_price_per_lesson=None,
        sessions=((at(MONDAY, 16, 0), at(MONDAY, 16, 45)),),
        region_code="220102",
    )
    base.update(over)
    return rules.Filing(**base)


def codes(f: rules.Filing, ctx: rules.Context | None = None) -> list[str]:
    return [v["rule"] for v in rules.check(f, ctx or rules.Context(guides=guides())).violations]


def one_session(
    day: date, start: tuple[int, int], minutes: int
) -> tuple[tuple[datetime, datetime], ...]:
    s = at(day, *start)
    return ((s, s + timedelta(minutes=minutes)),)


def test_clean_filing_is_approved() -> None:
    verdict = rules.check(filing(), rules.Context(guides=guides()))
    assert verdict.status == "approved" and verdict.violations == []
    assert verdict.price_check["ceiling_per_lesson"] == "25.00"  # 22.73 × 1.1 = 25.003


class TestPrice:
    def test_exactly_at_ceiling_passes_one_fen_above_fails(self) -> None:
        assert codes(filing(price_per_lesson=D("25.00"))) == []
        assert codes(filing(price_per_lesson=D("25.01"))) == ["price_above_guidance"]

    def test_violation_reports_the_numbers(self) -> None:
        v = rules.check(
            filing(price_per_lesson=D("30.00")), rules.Context(guides=guides())
        ).violations[0]
        assert (
            v["base_price"] == "22.73"
            and v["ceiling_per_lesson"] == "25.00"
            and v["excess"] == "5.00"
        )
        assert "25.00" in v["message"] and "22.73" in v["message"] and v["source"]

    def test_ninety_minutes_get_twice_the_ceiling(self) -> None:
        f90 = filing(
            lesson_minutes=90,
            sessions=one_session(MONDAY, (16, 0), 90),
            price_per_lesson=D("50.01"),
        )
        check = rules.check(f90, rules.Context(guides=guides()))
        assert check.price_check["ceiling_per_lesson"] == "50.01"  # 22.73 × 1.1 × 2 = 50.006
        assert codes(f90) == []
        assert codes(
            filing(
                lesson_minutes=90,
                sessions=one_session(MONDAY, (16, 0), 90),
                price_per_lesson=D("50.02"),
            )
        ) == ["price_above_guidance"]

    def test_city_guide_wins_over_province(self) -> None:
        # Changchun (220102 is in 220100): 22.73 → ceiling 25.00; Jilin province: 20 → 22.00.
        assert codes(filing(region_code="220102", price_per_lesson=D("24.00"))) == []
        assert codes(filing(region_code="220402", price_per_lesson=D("24.00"))) == [
            "price_above_guidance"
        ]

    def test_guide_not_yet_in_force_is_not_applied(self) -> None:
        day = date(2027, 2, 26)  # Friday before Changchun's 2027 guide
        f = filing(sessions=one_session(day, (16, 0), 45), price_per_lesson=D("30.00"))
        assert codes(f) == ["price_above_guidance"]
        later = date(2027, 3, 1)  # Monday: the new guide is in force
        assert (
            codes(filing(sessions=one_session(later, (16, 0), 45), price_per_lesson=D("30.00")))
            == []
        )

    def test_no_guidance_price(self) -> None:
        assert codes(filing(region_code="530102")) == ["no_guidance_price"]

    def test_list_price_the_guidance_makes_impossible(self) -> None:
        assert codes(filing(list_price_per_lesson=D("25.00"))) == []
        assert codes(filing(list_price_per_lesson=D("99.00"))) == ["list_price_above_guidance"]

    def test_non_subject_is_not_price_capped(self) -> None:
        assert codes(filing(category="non_subject", price_per_lesson=D("300.00"))) == []

    def test_class_size_band_edges(self) -> None:
        assert (
            rules.check(filing(class_size=9), rules.Context(guides=guides())).price_check[
                "base_price"
            ]
            == "27.27"
        )
        assert (
            rules.check(filing(class_size=10), rules.Context(guides=guides())).price_check[
                "base_price"
            ]
            == "22.73"
        )
        assert (
            rules.check(filing(class_size=36), rules.Context(guides=guides())).price_check[
                "base_price"
            ]
            == "18.18"
        )


class TestClock:
    def test_offline_ending_2030_passes_2031_fails(self) -> None:
        assert codes(filing(sessions=one_session(MONDAY, (19, 45), 45))) == []
        assert codes(filing(sessions=one_session(MONDAY, (19, 46), 45))) == ["late_end_offline"]

    def test_offline_late_end_applies_to_non_subject_too(self) -> None:
        assert codes(
            filing(category="non_subject", sessions=one_session(MONDAY, (19, 46), 45))
        ) == ["late_end_offline"]

    def test_online_end_2100(self) -> None:
        ok = filing(
            region_code="110105",
            mode="online",
            lesson_minutes=30,
            price_per_lesson=D("10.00"),
            sessions=one_session(MONDAY, (20, 30), 30),
        )
        late = filing(
            region_code="110105",
            mode="online",
            lesson_minutes=30,
            price_per_lesson=D("10.00"),
            sessions=one_session(MONDAY, (20, 31), 30),
        )
        assert codes(ok) == [] and codes(late) == ["late_end_online"]

    def test_time_judged_in_shanghai(self) -> None:
        # 12:00 UTC is 20:00 in Beijing: a lesson given in UTC still ends too late.
        start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        assert codes(filing(sessions=((start, start + timedelta(minutes=45)),))) == [
            "late_end_offline"
        ]
        early = datetime(2026, 11, 23, 11, 45, tzinfo=UTC)
        assert codes(filing(sessions=((early, early + timedelta(minutes=45)),))) == []


class TestOnline:
    def online(self, minutes: int, gap: int | None = None) -> rules.Filing:
        s1 = at(MONDAY, 18, 0)
        sessions = [(s1, s1 + timedelta(minutes=minutes))]
        if gap is not None:
            s2 = s1 + timedelta(minutes=minutes + gap)
            sessions.append((s2, s2 + timedelta(minutes=minutes)))
        return filing(
            region_code="110105",
            mode="online",
            lesson_minutes=minutes,
            lessons_total=len(sessions),
            price_per_lesson=D("10.00"),
            sessions=tuple(sessions),
        )

    def test_thirty_minutes_pass_31_fail(self) -> None:
        assert "online_lesson_too_long" not in codes(self.online(30))
        assert "online_lesson_too_long" in codes(self.online(31))

    def test_ten_minute_break_passes_nine_fails(self) -> None:
        assert codes(self.online(30, gap=10)) == []
        assert codes(self.online(30, gap=9)) == ["online_break_too_short"]


class TestCalendar:
    def day(self, d: date, **over) -> list[str]:
        return codes(filing(sessions=one_session(d, (16, 0), 45), **over))

    def test_saturday_fails_for_subject_passes_non_subject(self) -> None:
        saturday = date(2026, 11, 21)
        assert self.day(saturday) == ["weekend_or_holiday_session"]
        assert self.day(saturday, category="non_subject") == []

    def test_statutory_holiday_fails(self) -> None:
        assert self.day(date(2026, 1, 1)) == ["weekend_or_holiday_session"]

    def test_lunar_holiday_fails(self) -> None:
        assert self.day(date(2026, 6, 19)) == [
            "weekend_or_holiday_session"
        ]  # Dragon Boat, a Friday
        assert self.day(date(2026, 6, 19), category="non_subject") == []

    def test_weekday_inside_announced_holiday_fails(self) -> None:
        assert self.day(date(2024, 10, 4)) == [
            "weekend_or_holiday_session"
        ]  # Friday, National Day week

    def test_make_up_working_day_on_weekend_passes(self) -> None:
        assert self.day(date(2026, 10, 10)) == []  # Saturday, 调休 school day

    def test_unannounced_year_still_knows_statutory_holidays(self) -> None:
        assert self.day(date(2027, 9, 15)) == [
            "weekend_or_holiday_session"
        ]  # Mid-autumn 2027, Wednesday
        assert self.day(date(2027, 9, 16)) == []

    def test_configured_vacation_fails_for_subject_only(self) -> None:
        ctx = rules.Context(
            guides=guides(),
            vacations={
                "220000": [
                    rules.Vacation(
                        name="winter vacation", start=date(2027, 1, 18), end=date(2027, 2, 28)
                    )
                ]
            },
        )
        assert codes(filing(sessions=one_session(date(2027, 1, 19), (16, 0), 45)), ctx) == [
            "vacation_session"
        ]
        assert (
            codes(
                filing(
                    category="non_subject", sessions=one_session(date(2027, 1, 19), (16, 0), 45)
                ),
                ctx,
            )
            == []
        )
        assert codes(filing(sessions=one_session(date(2027, 1, 15), (16, 0), 45)), ctx) == []

    def test_city_calendar_overrides_province(self) -> None:
        ctx = rules.Context(
            guides=guides(),
            vacations={
                "220000": [
                    rules.Vacation(
                        name="winter vacation", start=date(2027, 1, 18), end=date(2027, 2, 28)
                    )
                ],
                "220100": [
                    rules.Vacation(
                        name="winter vacation", start=date(2027, 1, 25), end=date(2027, 2, 28)
                    )
                ],
            },
        )
        assert codes(filing(sessions=one_session(date(2027, 1, 19), (16, 0), 45)), ctx) == []
        assert codes(
            filing(region_code="220402", sessions=one_session(date(2027, 1, 19), (16, 0), 45)), ctx
        ) == ["vacation_session"]


class TestPreschool:
    def test_preschool_online_and_subject(self) -> None:
        assert codes(filing(grade_band="preschool", category="non_subject")) == []
        assert codes(filing(grade_band="preschool")) == ["preschool_subject"]
        online = filing(
            grade_band="preschool",
            category="non_subject",
            mode="online",
            lesson_minutes=30,
            region_code="110105",
            sessions=one_session(MONDAY, (17, 0), 30),
        )
        assert codes(online) == ["preschool_online"]


@pytest.mark.parametrize("n", [1, 5])
def test_every_session_is_reported(n: int) -> None:
    saturday = date(2026, 11, 21)
    sessions = tuple(
        (at(saturday + timedelta(days=7 * k), 16, 0), at(saturday + timedelta(days=7 * k), 16, 45))
        for k in range(n)
    )
    violations = rules.check(
        filing(lessons_total=n, sessions=sessions), rules.Context(guides=guides())
    ).violations
    assert [v["session"] for v in violations] == list(range(1, n + 1))


class TestMembershipTerm:
    """A membership's term against `card_caps.membership_months` (Shanghai's fitness rules: at
    most 24 months), read as the Civil Code counts a period in months (民法典 Art. 201-202):
    the first day is not counted, and the period ends on the day of the same number in the
    month it runs to, or on that month's last day where it has no such day. So a term from its
    first session's Beijing day to its last is within N months while the last day is no later
    than `add_months(first, N)`; exactly 24 months is allowed ("不得超过"), one day more is a
    25th month (a part month counts whole)."""

    CAPS = rules.CardCaps(membership_amount=D("5000"), membership_months=24,
                          sessions_amount=D("20000"), sessions=60,
                          stored_value_amount=D("5000"))  # fmt: skip

    @staticmethod
    def card(first: date, last: date) -> rules.Filing:
        return filing(
            category="non_subject", lessons_total=2, price_per_lesson=D("100.00"),
            card_kind="membership",
            sessions=(one_session(first, (16, 0), 45)[0], one_session(last, (19, 0), 60)[0]),
        )  # fmt: skip

    @pytest.mark.parametrize(
        ("first", "last", "months"),
        [
            (date(2026, 1, 15), date(2028, 1, 15), 24),  # exactly 24 months: the last day
            (date(2026, 1, 15), date(2028, 1, 16), 25),  # one day more
            (date(2026, 1, 15), date(2028, 1, 14), 24),
            (date(2026, 1, 31), date(2028, 1, 31), 24),  # from a month's end
            (date(2026, 1, 31), date(2028, 2, 1), 25),
            (date(2026, 1, 31), date(2026, 2, 28), 1),  # no 31 February: its last day
            (date(2026, 1, 31), date(2026, 3, 1), 2),
            (date(2026, 2, 28), date(2028, 2, 28), 24),  # the 28th, though 2028 has a 29th
            (date(2026, 2, 28), date(2028, 2, 29), 25),
            (date(2028, 2, 29), date(2030, 2, 28), 24),  # no 29 February 2030: its last day
            (date(2028, 2, 29), date(2030, 3, 1), 25),
            (date(2026, 3, 31), date(2026, 4, 30), 1),
            (date(2026, 10, 12), date(2026, 10, 12), 1),  # one day: a part month, whole
        ],
    )
    def test_months_spanned(self, first: date, last: date, months: int) -> None:
        assert rules.months_spanned(self.card(first, last)) == months

    def test_the_cap_at_its_boundary(self) -> None:
        ctx = rules.Context(guides=guides(), card_caps=self.CAPS)
        within = rules.check(self.card(date(2026, 1, 31), date(2028, 1, 31)), ctx)
        assert within.violations == []
        over = rules.check(self.card(date(2026, 1, 31), date(2028, 2, 1)), ctx).violations
        assert [(v["rule"], v["cap"], v["limit"], v["value"]) for v in over] == [
            ("card_over_cap", "membership_months", 24, 25)
        ]
