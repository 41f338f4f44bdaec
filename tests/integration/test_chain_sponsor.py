"""Issue 35: a history's sponsor is kept on the institution, and a campus whose money left
escrow is evidence at its sibling (the same sponsor), never at a school of another sponsor;
an honest closure of a campus is not. Replayed through the real domain code (SQLite)."""

from __future__ import annotations

import io
import json
import secrets

from sqlalchemy import Engine, select

from service.config import Settings
from service.kit.db import make_sessionmaker
from service.registry.models import Institution
from tools.backtest import Replay


def _line(at: str, kind: str, **fields: object) -> str:
    return json.dumps({"at": at, "type": kind, **fields})


def _school(label: str, sponsor: str | None) -> list[str]:
    extra = {"sponsor": sponsor} if sponsor else {}
    sessions = [
        {"starts_at": f"2026-11-{d}T17:00:00+08:00", "ends_at": f"2026-11-{d}T17:45:00+08:00"}
        for d in range(24, 30)
    ]
    return [
        _line("2026-11-23T08:00:00+08:00", "institution", id=label, region_code="220102",
              category="subject", supervision_mode="custody", **extra),
        _line("2026-11-23T08:10:00+08:00", "course", id=f"{label}-c", institution=label,
              category="subject", grade_band="junior", mode="offline", class_size=20,
              lesson_minutes=45, price_per_lesson="20.00", sessions=sessions),
        _line("2026-11-23T09:00:00+08:00", "enrollment", id=f"{label}1", course=f"{label}-c",
              lessons=5, amount="100.00"),
        _line("2026-11-23T09:30:00+08:00", "deposit", bank_txn_id=f"D-{label}",
              institution=label, enrollment=f"{label}1", amount="100.00"),
    ]  # fmt: skip


def test_a_siblings_money_gone_is_evidence_at_the_other_campus(engine: Engine) -> None:
    lines = [
        *_school("A", "Chain One"), *_school("B", "Chain One"), *_school("C", None),
        *_school("D", "Chain Two"), *_school("E", "Chain Two"),
        _line("2026-11-25T12:00:00+08:00", "bank_debit", institution="A", bank_txn_id="GONE",
              amount="100.00"),
        _line("2026-11-25T12:00:00+08:00", "closure_notice", institution="D",
              effective="2026-11-26"),
        _line("2026-11-25T13:00:00+08:00", "refund_request", id="RD", enrollment="D1",
              lessons=None),
        _line("2026-11-25T15:00:00+08:00", "refund_answer", refund="RD", decision="accept"),
        _line("2026-11-27T09:00:00+08:00", "statement", institution="A"),
    ]  # fmt: skip
    lines.sort(key=lambda x: json.loads(x)["at"])
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url="sqlite://", secret_key="k" * 32
    )
    replay = Replay(make_sessionmaker(engine), settings, out, err=err,
                    counter=secrets.randbelow(800_000) + 100_000)  # fmt: skip
    replay.run(lines)
    rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
    last = {r["institution"]: r for r in rows if r["date"] == "2026-11-27"}
    assert last["A"]["level"] == "critical"
    codes = {k: {i["code"] for i in r["indicators"]} for k, r in last.items()}
    assert "chain_sibling" in codes["B"]
    assert "chain_sibling" not in codes["C"] | codes["D"] | codes["E"]
    with make_sessionmaker(engine)() as s:
        b = s.get(Institution, replay.ids["institution"]["B"])
        assert b is not None and b.sponsor == "Chain One"
        c = s.scalar(select(Institution.sponsor).where(
            Institution.id == replay.ids["institution"]["C"]))  # fmt: skip
        assert c is None


def _weekday_school(label: str, sponsor: str) -> list[str]:
    """As `_school`, its sessions on the week's school days (Tuesday 24 to Friday 27
    November: a subject course's filing refuses weekend sessions)."""
    sessions = [
        {"starts_at": f"2026-11-{d}T17:00:00+08:00", "ends_at": f"2026-11-{d}T17:45:00+08:00"}
        for d in range(24, 28)
    ]
    return [
        _line("2026-11-23T08:00:00+08:00", "institution", id=label, region_code="220102",
              category="subject", supervision_mode="custody", sponsor=sponsor),
        _line("2026-11-23T08:10:00+08:00", "course", id=f"{label}-c", institution=label,
              category="subject", grade_band="junior", mode="offline", class_size=20,
              lesson_minutes=45, price_per_lesson="20.00", sessions=sessions),
        _line("2026-11-23T09:00:00+08:00", "enrollment", id=f"{label}1", course=f"{label}-c",
              lessons=4, amount="80.00"),
        _line("2026-11-23T09:30:00+08:00", "deposit", bank_txn_id=f"D-{label}",
              institution=label, enrollment=f"{label}1", amount="80.00"),
    ]  # fmt: skip


def _closing(contested: bool) -> list[str]:
    """Campus D of Chain Two closes on 26 November; D1 is refunded, D2's refund is contested
    (awaiting the regulator) or never asked for (parents simply still owed)."""
    lines = [*_weekday_school("D", "Chain Two"), *_weekday_school("E", "Chain Two")]
    lines += [
        _line("2026-11-23T09:40:00+08:00", "enrollment", id="D2", course="D-c", lessons=4,
              amount="80.00"),
        _line("2026-11-23T09:50:00+08:00", "deposit", bank_txn_id="D-D2", institution="D",
              enrollment="D2", amount="80.00"),
        _line("2026-11-25T12:00:00+08:00", "closure_notice", institution="D",
              effective="2026-11-26"),
        _line("2026-11-25T13:00:00+08:00", "refund_request", id="RD", enrollment="D1",
              lessons=None),
        _line("2026-11-25T15:00:00+08:00", "refund_answer", refund="RD", decision="accept"),
        _line("2026-12-13T09:00:00+08:00", "statement", institution="E"),
    ]  # fmt: skip
    if contested:
        lines += [
            _line("2026-11-25T13:10:00+08:00", "refund_request", id="RD2", enrollment="D2",
                  lessons=None),
            _line("2026-11-25T15:10:00+08:00", "refund_answer", refund="RD2",
                  decision="dispute"),
        ]  # fmt: skip
    return sorted(lines, key=lambda x: json.loads(x)["at"])


def test_a_closure_owing_only_a_contested_refund_is_no_default(engine: Engine) -> None:
    """Fifteen days after the closure: what D still owes is a refund it contested, the
    regulator yet to decide: no closure_default, so nothing at its sibling E. Owing a parent
    who never asked is a default, and a hard signal at E."""
    settings = Settings(
        environment="test", log_signing_key="ab" * 32, database_url="sqlite://", secret_key="k" * 32
    )
    for contested, defaulted in ((True, False), (False, True)):
        out = io.StringIO()
        replay = Replay(make_sessionmaker(engine), settings, out, err=io.StringIO(),
                        counter=secrets.randbelow(800_000) + 100_000)  # fmt: skip
        replay.run(_closing(contested))
        rows = [json.loads(x) for x in out.getvalue().splitlines() if '"level"' in x]
        last = {r["institution"]: r for r in rows if r["date"] == "2026-12-12"}
        codes = {k: {i["code"] for i in r["indicators"]} for k, r in last.items()}
        assert ("closure_default" in codes["D"]) is defaulted
        assert ("chain_sibling" in codes["E"]) is defaulted
