"""A small hand-written history replayed by `tuitionguard backtest`, levels checked day by day."""

from __future__ import annotations

import gc
import io
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import Engine, select

import ledger
from service.config import Settings
from service.errors import DomainError
from service.flows import consumptions
from service.flows.counters import InstitutionDay
from service.flows.models import Deposit, Enrollment
from service.kit.clock import local
from service.kit.db import make_sessionmaker
from service.registry.models import Institution
from tools.backtest import REPLAY_GC_THRESHOLD, Replay

DATA = Path(__file__).resolve().parents[1] / "data" / "history_small.jsonl"


def test_backtest_levels_day_by_day(tmp_path: Path) -> None:
    out = tmp_path / "levels.jsonl"
    env = {**os.environ, "ENVIRONMENT": "development", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tools.cli", "backtest", str(DATA), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # The two bad lines are reported with their line numbers and skipped.
    assert "line 16: nonsense skipped" in proc.stderr
    assert "line 17: consumption skipped" in proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    summary = lines[-1]["summary"]
    assert summary == {"days": 8, "institutions": 3, "events": 18, "skipped": 2}
    levels = {(r["date"], r["institution"]): r for r in lines[:-1]}
    days = [f"2026-11-{d}" for d in range(23, 31)]
    assert [levels[(d, "A")]["level"] for d in days] == ["low"] * 8
    assert [levels[(d, "B")]["level"] for d in days] == ["low"] * 6 + ["medium", "critical"]
    assert [levels[(d, "C")]["level"] for d in days] == ["low", "low"] + ["critical"] * 6
    b_last = {i["code"] for i in levels[("2026-11-30", "B")]["indicators"]}
    assert {"refund_failed", "refund_overdue"} <= b_last
    c_codes = {i["code"] for i in levels[("2026-11-25", "C")]["indicators"]}
    assert c_codes == {"escrow_shortfall"}
    sample = levels[("2026-11-29", "B")]["indicators"][0]
    assert set(sample) == {"code", "value", "threshold", "contribution"}


def _line(at: str, kind: str, **fields: object) -> str:
    return json.dumps({"at": at, "type": kind, **fields})


def _replayed(
    engine: Engine, lines: list[str]
) -> tuple[Replay, dict[str, int], io.StringIO, io.StringIO]:
    """`lines` replayed into the test database: the replay, its summary, output and errors."""
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url="sqlite://", secret_key="k" * 32
    )
    # Numbered apart from other replays into this database (credit codes, account numbers).
    counter = secrets.randbelow(800_000) + 100_000
    replay = Replay(make_sessionmaker(engine), settings, out, err=err, counter=counter)
    return replay, replay.run(lines), out, err


def test_a_replay_collects_cycles_less_often_and_restores_the_collector(engine: Engine) -> None:
    """The replay runs the cycle collector less often (tools.backtest._fewer_collections) and
    leaves the process's collector as it found it, even in a process that goes on (a test)."""
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    during: list[tuple[int, int, int]] = []
    course = json.loads(DATA.read_text().splitlines()[3])
    lines = [_line("2026-11-23T08:00:00+08:00", "institution", id="G", name="G",
                   region_code="220102", category="subject"),
             json.dumps({**course, "id": "G-maths", "institution": "G"})]  # fmt: skip
    out = io.StringIO()
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url="sqlite://", secret_key="k" * 32
    )
    replay = Replay(make_sessionmaker(engine), settings, out, err=io.StringIO(),
                    counter=secrets.randbelow(800_000) + 100_000,
                    on_day=lambda _: during.append(gc.get_threshold()))  # fmt: skip
    replay.run(lines)
    assert during and all(t[0] == REPLAY_GC_THRESHOLD > before[0] for t in during)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0 if not frozen else gc.get_freeze_count() >= frozen


def test_reserve_deposits_and_closure_notices_are_replayed(engine: Engine) -> None:
    """docs/backtest.md's `reserve_deposit` funds a reserve-mode school's reserve, and
    `closure_notice` records its closure (no new enrollment after it), on both databases."""
    course = json.loads(DATA.read_text().splitlines()[3])
    lines = [_line("2026-11-23T08:00:00+08:00", "institution", id=x, name=x,
                   region_code="220102", category="subject", supervision_mode="reserve")
             for x in ("R", "S")]  # fmt: skip
    for x in ("R", "S"):
        lines.append(json.dumps({**course, "id": f"{x}-maths", "institution": x}))
        lines.append(_line("2026-11-23T09:00:00+08:00", "enrollment", id=f"{x}-1",
                           course=f"{x}-maths", lessons=5, amount="100.00"))  # fmt: skip
        lines.append(_line("2026-11-23T09:10:00+08:00", "deposit", bank_txn_id=f"{x}-d1",
                           institution=x, enrollment=f"{x}-1", amount="100.00"))  # fmt: skip
    lines += [
        _line("2026-11-23T09:20:00+08:00", "reserve_deposit", bank_txn_id="R-r1",
              institution="R", amount="100.00"),
        _line("2026-11-24T09:00:00+08:00", "closure_notice", institution="S",
              effective="2026-12-31"),
        _line("2026-11-24T10:00:00+08:00", "enrollment", id="S-2", course="S-maths",
              lessons=5, amount="100.00"),
        _line("2026-11-24T11:00:00+08:00", "reserve_deposit", bank_txn_id="S-r1",
              institution="X", amount="1.00"),
    ]  # fmt: skip
    replay, summary, out, err = _replayed(engine, lines)
    assert summary["skipped"] == 2, err.getvalue()
    assert "S-2" not in replay.ids["enrollment"]
    assert "institution_closing" in err.getvalue() and "unknown institution 'X'" in err.getvalue()
    rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
    last = {r["institution"]: r for r in rows if r["date"] == "2026-11-24"}
    assert "reserve_shortfall" not in {i["code"] for i in last["R"]["indicators"]}
    assert "reserve_shortfall" in {i["code"] for i in last["S"]["indicators"]}
    with make_sessionmaker(engine)() as s:
        closing = s.get(Institution, replay.ids["institution"]["S"])
        assert closing is not None and closing.closing_on == date(2026, 12, 31)


def test_batched_deposits_and_lessons_keep_each_line_its_own_clock_and_order(
    engine: Engine,
) -> None:
    """A morning's enrollments and deposits are written together and an evening's lessons of
    several schools in one call; each line must still be judged as if applied alone, at its
    own `at`, in the file's order: a deposit naming an enrollment made after it, or one the
    rules refused, is unknown, a second payment of one enrollment is held in suspense, and
    each payment dates the enrollment by itself."""
    source = DATA.read_text().splitlines()
    lines = source[:6]  # the schools A, B, C and their courses
    day = "2026-11-23T"
    lines += [
        _line(day + "09:00:00+08:00", "enrollment", id="A1", course="A-maths", lessons=5,
              amount="100.00"),
        _line(day + "09:05:00+08:00", "deposit", bank_txn_id="early", institution="B",
              enrollment="B1", amount="100.00"),  # B1 is enrolled after it: unknown
        _line(day + "09:10:00+08:00", "enrollment", id="B1", course="B-maths", lessons=5,
              amount="100.00"),
        _line(day + "09:15:00+08:00", "deposit", bank_txn_id="a1", institution="A",
              enrollment="A1", amount="100.00"),
        _line(day + "09:20:00+08:00", "deposit", bank_txn_id="a1-again", institution="A",
              enrollment="A1", amount="100.00"),  # paid already: suspense
        _line(day + "09:40:00+08:00", "deposit", bank_txn_id="b1", institution="B",
              enrollment="B1", amount="100.00"),
        _line(day + "09:45:00+08:00", "enrollment", id="A2", course="A-maths", lessons=99,
              amount="100.00"),  # refused when the morning is written
        _line(day + "09:50:00+08:00", "deposit", bank_txn_id="a2", institution="A",
              enrollment="A2", amount="100.00"),  # so this one pays nothing known
        _line("2026-11-24T17:00:00+08:00", "consumption", enrollment="A1", lessons=1),
        _line("2026-11-24T17:00:00+08:00", "consumption", enrollment="B1", lessons=1),
        _line("2026-11-24T17:00:00+08:00", "consumption", enrollment="B1", lessons=9),
    ]  # fmt: skip
    replay, summary, out, err = _replayed(engine, lines)
    assert summary["skipped"] == 4, err.getvalue()
    assert "line 8: deposit skipped: unknown enrollment 'B1'" in err.getvalue()
    assert "line 13: enrollment skipped: not_enough_sessions" in err.getvalue()
    assert "line 14: deposit skipped: unknown enrollment 'A2'" in err.getvalue()
    assert "line 17: consumption skipped: exceeds_remaining" in err.getvalue()
    ids = replay.ids["enrollment"]
    with make_sessionmaker(engine)() as s:
        found = {
            d.bank_txn_id: d
            for d in s.scalars(select(Deposit).where(Deposit.bank_id == replay.bank_id))
        }
        assert set(found) == {"a1", "a1-again", "b1"}
        assert {t: (d.status, d.reason) for t, d in found.items()} == {
            "a1": ("posted", None), "a1-again": ("suspense", "amount_mismatch"),
            "b1": ("posted", None),
        }  # fmt: skip
        minutes = {t: local(d.received_at).minute for t, d in found.items()}
        assert minutes == {"a1": 15, "a1-again": 20, "b1": 40}
        paid = {k: s.get(Enrollment, ids[k]) for k in ("A1", "B1")}
        assert {k: local(e.paid_at).minute for k, e in paid.items() if e
                and e.paid_at} == {"A1": 15, "B1": 40}  # fmt: skip
        assert {k: e.lessons_consumed for k, e in paid.items() if e} == {"A1": 1, "B1": 1}
        days = {
            (r.institution_id, r.day): (r.deposits_count, r.enrollments_paid, r.lessons_consumed)
            for r in s.scalars(select(InstitutionDay))
        }
    a, b = replay.ids["institution"]["A"], replay.ids["institution"]["B"]
    assert days[(a, date(2026, 11, 23))] == (2, 1, 0)
    assert days[(b, date(2026, 11, 23))] == (1, 1, 0)
    assert days[(a, date(2026, 11, 24))][2] == 1 and days[(b, date(2026, 11, 24))][2] == 1
    with engine.connect() as c:
        assert ledger.verify(c).ok
    # A class names only its own school's enrollments: another's is as good as missing.
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    with make_sessionmaker(engine).begin() as s:
        school_a, school_b = s.get(Institution, a), s.get(Institution, b)
        assert school_a is not None and school_b is not None
        item = consumptions.LessonReport(enrollment_id=ids["B1"], lessons=1, occurred_at=at)
        out = consumptions.report_classes(s, classes=[(school_a, [item]), (school_b, [item])],
                                          now=at)  # fmt: skip
        assert isinstance(out[0][0], DomainError) and out[0][0].code == "not_found"
        taken = out[1][0]
        assert isinstance(taken, consumptions.Reported)
        assert taken.consumption.institution_id == b and taken.enrollment.lessons_consumed == 2
