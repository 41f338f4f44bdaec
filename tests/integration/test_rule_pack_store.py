"""Rule packs stored: versions by day, the region-settings shim, the cache, the migration that
moved region_settings into packs."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, select

from service.errors import DomainError
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import alembic_config
from service.policy import packs, region_settings
from service.policy import rules as r
from service.policy.models import RulePackVersion
from tests import factories
from tests.conftest import drop_pg_database, new_database

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
REGION = "220322"  # Lishu: a district no other test in this file writes


def source() -> r.Source:
    return r.Source(title="a text", issuer="an office")


def define(engine: Engine, day: date, rules: dict[str, object], sector: str = "all") -> None:
    checked = packs.checked(sector, {k: {"value": v, "source": {"title": "t", "issuer": "i"}}
                                     for k, v in rules.items()})  # fmt: skip
    run_in_transaction(
        make_sessionmaker(engine),
        lambda s: packs.define(s, region_code=REGION, sector=sector, effective_from=day,
                               rules=checked, reason="test", actor="tests", now=NOW),
    )  # fmt: skip


@pytest.fixture
def clean(engine: Engine):  # type: ignore[no-untyped-def]
    factories.drop_pack_overrides(engine, REGION)
    yield
    factories.drop_pack_overrides(engine, REGION)


def resolve(engine: Engine, day: date, sector: str = "education_subject") -> r.RulePack:
    with make_sessionmaker(engine)() as s:
        return packs.resolve(s, REGION, sector, on=day)


def test_a_version_applies_from_its_day_and_every_version_is_kept(
    engine: Engine, clean: None
) -> None:
    define(engine, date(2026, 10, 1), {"confirmation_window": {"working_days": 7}})
    define(engine, date(2027, 1, 1), {"minimum_balance": {"share_of_owed": "0.2"}})
    assert resolve(engine, date(2026, 9, 30)).values.confirmation_window.days == 7
    october = resolve(engine, date(2026, 10, 1))
    assert october.values.confirmation_window.working_days == 7
    assert october.values.minimum_balance.share_of_owed == 0
    january = resolve(engine, date(2027, 1, 1))
    # The 2027 version was built on the one in force on its day: it keeps the window.
    assert january.values.confirmation_window.working_days == 7
    assert str(january.values.minimum_balance.share_of_owed) == "0.2"
    assert january.cited["minimum_balance"].version == 2
    with make_sessionmaker(engine)() as s:
        kept = packs.versions(s, REGION, "all")
    assert [(v.version, v.changed) for v in kept] == [
        (2, ["minimum_balance"]),
        (1, ["confirmation_window"]),
    ]


def test_a_sector_layer_overrides_the_regions_common_one_for_that_sector_only(
    engine: Engine, clean: None
) -> None:
    define(engine, date(2026, 10, 1), {"prepay_caps": {"lessons": 30, "months": 3}})
    define(engine, date(2026, 10, 1), {"prepay_caps": {"lessons": 60, "months": 24,
                                                       "amount": "20000"}}, "fitness")  # fmt: skip
    assert resolve(engine, date(2026, 10, 2)).values.prepay_caps.lessons == 30
    gym = resolve(engine, date(2026, 10, 2), "fitness")
    assert gym.values.prepay_caps.months == 24
    assert gym.cited["prepay_caps"].sector == "fitness"


def test_a_region_wide_rule_is_refused_in_a_sector_layer() -> None:
    with pytest.raises(DomainError) as caught:
        packs.checked("fitness", {"four_eyes": {"value": [], "source": {"title": "t",
                                                                       "issuer": "i"}}})  # fmt: skip
    assert caught.value.code == "invalid_rule" and caught.value.extra["rule"] == "four_eyes"


def test_the_past_is_never_rewritten(engine: Engine, clean: None) -> None:
    with pytest.raises(DomainError):
        define(engine, date(2026, 8, 31), {"case_snooze_max": {"days": 3}})


def test_the_shim_writes_a_regional_override_and_reads_it_back(engine: Engine, clean: None) -> None:
    def work(s: sa.orm.Session) -> None:
        region_settings.put(s, region_code=REGION, key="confirmation_window_days", value=3,
                            now=NOW)  # fmt: skip
        region_settings.put(s, region_code=REGION, key="risk_thresholds",
                            value={"prepay_surge": {"threshold": "4"}}, now=NOW)  # fmt: skip

    run_in_transaction(make_sessionmaker(engine), work)
    pack = resolve(engine, NOW.date())
    assert pack.values.confirmation_window.days == 3
    assert pack.cited["confirmation_window"].source.title.startswith("Regional override")
    with make_sessionmaker(engine)() as s:
        assert str(packs.risk_config(s, REGION, on=NOW.date()).prepay_surge.threshold) == "4"
        assert len(packs.versions(s, REGION, "all")) == 2


def test_a_resolved_pack_is_served_from_the_cache_until_a_write(
    engine: Engine, clean: None
) -> None:
    day = date(2026, 10, 5)
    first = resolve(engine, day)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert resolve(engine, day) is first
        with make_sessionmaker(engine)() as s:
            assert packs.resolve(s, REGION, "education_subject", on=day) is first
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert not [q for q in statements if "rule_packs" in q]
    define(engine, date(2026, 10, 1), {"case_snooze_max": {"days": 3}})
    assert resolve(engine, day).values.case_snooze_max.days == 3


def test_a_new_day_with_the_same_versions_is_resolved_without_a_read(
    engine: Engine, clean: None
) -> None:
    """A replay resolves a new day every few milliseconds: the stored versions are kept, and
    the day's pack is theirs in force that day, equal to one resolved from a cold cache."""
    define(engine, date(2026, 10, 7), {"case_snooze_max": {"days": 4}})
    before = resolve(engine, date(2026, 10, 5))
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        nextday = resolve(engine, date(2026, 10, 6))
        seventh = resolve(engine, date(2026, 10, 7))
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert not [q for q in statements if "rule_packs" in q]
    assert nextday.on == date(2026, 10, 6) and seventh.on == date(2026, 10, 7)
    assert before.values.case_snooze_max.days == nextday.values.case_snooze_max.days != 4
    assert seventh.values.case_snooze_max.days == 4
    packs.forget()
    assert resolve(engine, date(2026, 10, 6)) == nextday
    assert resolve(engine, date(2026, 10, 7)) == seventh


def test_the_migration_moves_region_settings_into_packs(backend: str, tmp_path: object) -> None:
    url = new_database(backend, str(tmp_path))
    try:
        cfg = alembic_config(url)
        command.upgrade(cfg, "5d2b8e1f4a60")
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO region_settings (region_code, key, effective_from, value,"
                    " updated_at, reason, actor) VALUES (:r, :k, :d, :v, :u, :why, :a)"
                ),
                [
                    {"r": "220400", "k": "confirmation_window_days", "d": date(2026, 1, 1),
                     "v": "3", "u": NOW, "why": "pilot", "a": "regulator:reg_1"},
                    {"r": "220400", "k": "risk_thresholds", "d": date(2026, 3, 1),
                     "v": '{"prepay_surge": {"threshold": "4"}}', "u": NOW, "why": None,
                     "a": None},
                ],
            )  # fmt: skip
        command.upgrade(cfg, "head")
        packs.forget()
        with make_sessionmaker(eng)() as s:
            rows = list(s.scalars(select(RulePackVersion).order_by(RulePackVersion.version)))
            assert [(v.region_code, v.sector, v.version, v.changed) for v in rows] == [
                ("220400", "all", 1, ["confirmation_window"]),
                ("220400", "all", 2, ["risk_thresholds"]),
            ]
            pack = packs.resolve(s, "220402", "education_subject", on=date(2026, 3, 1))
            assert pack.values.confirmation_window.days == 3
            assert pack.values.risk_thresholds == {"prepay_surge": {"threshold": "4"}}
            assert pack.cited["confirmation_window"].source.note == "pilot"
        assert not sa.inspect(eng).has_table("region_settings")
        command.downgrade(cfg, "5d2b8e1f4a60")
        with eng.connect() as conn:
            back = conn.execute(sa.text("SELECT key FROM region_settings ORDER BY key")).all()
        assert [b[0] for b in back] == ["confirmation_window_days", "risk_thresholds"]
        eng.dispose()
    finally:
        if backend == "postgresql":
            drop_pg_database(url)
        elif os.path.exists(url.removeprefix("sqlite:///")):
            os.remove(url.removeprefix("sqlite:///"))


def test_the_seeded_packs_cover_twelve_localities_each_rule_cited() -> None:
    from service.policy import seeds

    localities = {s.region_code for s in seeds.SEEDS} - {r.NATIONAL}
    assert len(localities) >= 12, sorted(localities)
    for s in seeds.SEEDS:
        checked = packs.checked(
            s.sector, {k: {"value": v, "source": c} for k, (v, c) in s.rules.items()}
        )
        assert all(e.source.title and e.source.issuer for e in checked.values()), s.name


@pytest.mark.parametrize(
    ("region", "sector", "rule", "expected", "defined_at"),
    [
        ("330106", "education_subject", "confirmation_window", {"working_days": 7}, "330000"),
        ("340202", "education_subject", "release_cadence",
         {"mode": "after_last_lesson", "working_days_after": 15}, "340200"),
        ("350203", "education_subject", "release_cadence", {"mode": "weekly", "weekday": 1},
         "350200"),
        ("510302", "education_subject", "minimum_balance", {"share_of_owed": "0.2"}, "510300"),
        ("371082", "education_subject", "payout_cap", {"monthly_multiple_of_minimum": "2"},
         "371082"),
        ("310104", "fitness", "prepay_caps",
         {"lessons": 60, "months": 24, "amount": "20000", "per_consumer": "20000"}, "310000"),
        ("220402", "education_non_subject", "prepay_caps",
         {"lessons": 60, "months": 3, "amount": "5000"}, "220000"),
        ("220402", "education_subject", "confirmation_window", {"days": 7}, r.NATIONAL),
    ],
)  # fmt: skip
def test_a_seeded_locality_resolves_to_its_text(
    engine: Engine, region: str, sector: str, rule: str, expected: object, defined_at: str
) -> None:
    with make_sessionmaker(engine)() as s:
        pack = packs.resolve(s, region, sector, on=date(2026, 10, 8))
    cited = pack.cited[rule]
    assert cited.value == expected and cited.region_code == defined_at
    assert cited.source.title and cited.source.issuer
