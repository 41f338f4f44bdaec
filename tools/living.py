"""The demo region's history: twenty institutions of Liaoyuan and Siping over the six months
that end yesterday, made by the simulator's archetypes (ordinary and seasonal schools, the
traps a warning engine must not fall into, and the failure modes it must catch) and replayed
through
the real domain code with the demo bank and the province's regulator, so that a fresh
`make run` has an overview with trends, alerts, refunds, reconciliation breaks and parents.

Replayed once: a region that has it already is left as it is."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.flows.models import Consumption, Enrollment
from service.kit.clock import SHANGHAI
from service.registry.models import Institution
from tools.backtest import Replay
from tools.simulate import World

DAYS = 182
SEED = 2021  # the year of 双减

# (name, district): a few dozen schools a supervision office of these two cities would know.
SCHOOLS = (
    ("龙山区启航学科培训学校", "220402"),
    ("龙山区明德学科培训中心", "220402"),
    ("龙山区智慧树学科培训学校", "220402"),
    ("西安区求实学科培训学校", "220403"),
    ("西安区新起点学科培训中心", "220403"),
    ("东丰县春华学科培训学校", "220421"),
    ("东丰县育英学科培训中心", "220421"),
    ("东丰县博学学科培训学校", "220421"),
    ("东辽县晨光学科培训学校", "220422"),
    ("东辽县鸿志学科培训中心", "220422"),
    ("铁西区学而思远学科培训学校", "220302"),
    ("铁西区卓越学科培训中心", "220302"),
    ("铁东区英才学科培训学校", "220303"),
    ("铁东区思源学科培训中心", "220303"),
    ("梨树县乐学学科培训学校", "220322"),
    ("梨树县青蓝学科培训中心", "220322"),
    ("伊通县勤学学科培训学校", "220323"),
    ("伊通县朝阳学科培训中心", "220323"),
    ("双辽市天成学科培训学校", "220382"),
    ("双辽市弘毅学科培训中心", "220382"),
)
COURSES = ("初中数学同步提高班", "初中英语阅读写作班", "初中物理实验探究班", "初中语文阅读写作班")
ARTS = ("少儿美术创意班", "少儿舞蹈基础班", "少儿书法练习班")
MARK = SCHOOLS[0][0]  # present: the history is there


@dataclass(frozen=True)
class Parent:
    """One parent's sign-in, printed so a newcomer can open the parent's page."""

    enrollment_id: str
    access_code: str
    institution: str


def present(session: Session) -> bool:
    return session.scalar(select(Institution.id).where(Institution.name == MARK)) is not None


def events(today: date, days: int = DAYS, seed: int = SEED) -> list[dict[str, Any]]:
    """The simulator's history for the demo's schools, ending yesterday."""
    # Small schools: a newcomer's first `make run` replays their half year in under a minute.
    world = World(len(SCHOOLS), days, seed, today - timedelta(days=days), scale=0.35)
    # Nothing after yesterday: an answer or a dispute the simulator dates a day or two after
    # its cause would make today's (or tomorrow's) evaluation, ahead of the real clock.
    today_starts = datetime(today.year, today.month, today.day, tzinfo=SHANGHAI)
    out = [e for e in world.build() if datetime.fromisoformat(e["at"]) < today_starts]
    names = {inst.label: (i, *SCHOOLS[i]) for i, inst in enumerate(world.insts)}
    terms: dict[str, int] = {}
    for e in out:
        if e["type"] == "institution":
            n, e["name"], e["region_code"] = names[e["id"]]
            if e["category"] == "non_subject":  # an arts school, not a subject one
                e["name"] = e["name"].replace("学科培训", "艺术培训")
            e["escrow_account_no"] = f"6227100000{n + 1:06d}"
            e["operating_account_no"] = f"6228100000{n + 1:06d}"
        if e["type"] == "course":
            n = terms[e["institution"]] = terms.get(e["institution"], 0) + 1
            titles = ARTS if e["category"] == "non_subject" else COURSES
            e["title"] = f"{titles[n % len(titles)]}（第{n}期）"
        if "bank_txn_id" in e:  # the demo bank's own ids, apart from any other history
            e["bank_txn_id"] = f"LD-{e['bank_txn_id']}"
    return out


def replay(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    bank_id: str,
    regulator_id: str,
    today: date,
    days: int = DAYS,
    progress: Callable[[int], None] | None = None,
) -> Parent | None:
    """Replay the history into the service's database; the parent of a healthy school's
    enrollment with lessons used and left, or None where the history had none."""
    lines = [json.dumps(e, ensure_ascii=False) for e in events(today, days)]
    run = Replay(
        sessions, settings, io.StringIO(), err=io.StringIO(), bank_id=bank_id,
        regulator_id=regulator_id, on_day=progress, default_statements=False,
    )  # fmt: skip
    run.run(lines)
    with sessions() as s:
        return _a_parent(s, run.access_codes)


def _a_parent(session: Session, codes: dict[str, str]) -> Parent | None:
    """The latest active enrollment with a lesson reported, at a school still active."""
    row = session.execute(
        select(Enrollment.id, Institution.name)
        .join(Institution, Institution.id == Enrollment.institution_id)
        .where(
            Enrollment.id.in_(list(codes)),
            Enrollment.status == "active",
            Institution.status == "active",
            select(Consumption.id).where(Consumption.enrollment_id == Enrollment.id).exists(),
        )
        .order_by(Enrollment.paid_at.desc())
        .limit(1)
    ).first()
    return Parent(row[0], codes[row[0]], row[1]) if row else None
