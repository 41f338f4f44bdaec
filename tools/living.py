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
import random
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
from service.registry.regions import known_regions
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

# What the demo's parents, schools and registry write, in their words (the simulator's
# history has no text; a recorded one may carry its own, docs/backtest.md's optional fields).
DISPUTES = (
    "孩子这天请假没去上课，机构却扣了课时",
    "当天老师临时调课，实际没有上课",
    "只上了一节课，却记了两节",
    "这节是试听课，报名时说好不扣课时",
    "孩子生病在家，没有去上课",
    "上课时间只有半小时，不够一节课",
)
REFUND_REASONS = (
    "孩子学业时间冲突，不再继续上课",
    "全家搬到外地，无法继续上课",
    "孩子不适应老师的教学方式",
    "机构更换了授课老师，效果不理想",
    "课程时间和学校作息冲突",
    "家庭经济情况有变化，申请退还剩余课时费",
    "孩子对这门课没有兴趣了",
)
ANSWERS = {
    "accept": ("同意退费，按剩余课时退还", "已与家长沟通，同意退费", "同意，按合同退还剩余课时费"),
    "dispute": (
        "家长所说的课时数与签到记录不符",
        "报名时赠送的课时不在退费范围内",
        "家长未按合同提前申请，需扣除已发放的教材费",
    ),
}
COMPLAINTS = {
    "refund": ("申请退费一个多月了，机构一直拖着不办", "机构说要等下个季度才能退费"),
    "teaching_stopped": (
        "机构已经两周没有上课，电话也打不通",
        "老师走了以后一直没有安排新老师上课",
    ),
    "asked_to_pay_off_platform": (
        "机构让我们把学费直接转到老师个人微信上",
        "前台说交现金可以打八折，不走监管账户",
    ),
    "quality": ("老师经常迟到，上课内容和宣传的不一样", "一个班四十多个孩子，老师根本顾不过来"),
    "other": ("机构搬了地址没有通知家长", "退费时被要求签不合理的补充协议"),
}
PEOPLE = ("赵文华", "孙丽娟", "周建军", "吴海燕", "郑国强", "王秀芝", "冯志刚", "陈红梅")
HEADS = ("李淑华", "高振宇", "杨春燕", "马立新", "何静")
STREETS = ("人民大街", "解放路", "新华路", "建设街", "胜利路", "长安街")
# A student's name as the school filed it (the workbench's 学员 column), not the simulator's
# label ("I0003-E6"), which an office would read as a code.
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
GIVEN = ("子涵", "欣怡", "浩然", "梓轩", "雨桐", "宇航", "思彤", "俊杰", "佳怡", "一诺", "子墨",
         "诗涵", "博文", "可馨", "天佑", "语嫣")  # fmt: skip
CLOSURE = "因生源不足停止办学，剩余课时费将全部退还家长"


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
    # Its schools are placed in the demo's own districts: no district's suspension by order.
    world = World(len(SCHOOLS), days, seed, today - timedelta(days=days), scale=0.35,
                  suspension=False)  # fmt: skip
    # Nothing after yesterday: an answer or a dispute the simulator dates a day or two after
    # its cause would make today's (or tomorrow's) evaluation, ahead of the real clock.
    today_starts = datetime(today.year, today.month, today.day, tzinfo=SHANGHAI)
    out = [e for e in world.build() if datetime.fromisoformat(e["at"]) < today_starts]
    names = {inst.label: (i, *SCHOOLS[i]) for i, inst in enumerate(world.insts)}
    terms: dict[str, int] = {}
    students = random.Random(seed + 1)  # apart from _texts' draws: its words stay as they were
    for e in out:
        if e["type"] == "institution":
            n, e["name"], e["region_code"] = names[e["id"]]
            if e["category"] == "non_subject":  # an arts school, not a subject one
                e["name"] = e["name"].replace("学科培训", "艺术培训")
            e["legal_person"] = PEOPLE[n % len(PEOPLE)] if n % 3 else HEADS[n % len(HEADS)]
            street = f"{STREETS[n % len(STREETS)]}{n * 13 + 8}号"
            e["address"] = _address(str(e["region_code"]), street)
            e["escrow_account_no"] = f"6227100000{n + 1:06d}"
            e["operating_account_no"] = f"6228100000{n + 1:06d}"
        if e["type"] == "course":
            n = terms[e["institution"]] = terms.get(e["institution"], 0) + 1
            titles = ARTS if e["category"] == "non_subject" else COURSES
            e["title"] = f"{titles[n % len(titles)]}（第{n}期）"
        if e["type"] == "enrollment":
            e["student"] = students.choice(SURNAMES) + students.choice(GIVEN)
        if "bank_txn_id" in e:  # the demo bank's own ids, apart from any other history
            e["bank_txn_id"] = f"LD-{e['bank_txn_id']}"
    _texts(
        out,
        random.Random(seed),
        {e["id"]: e["region_code"] for e in out if e["type"] == "institution"},
    )
    return out


def _texts(history: list[dict[str, Any]], pick: random.Random, regions: dict[str, str]) -> None:
    """Each dispute, refund, answer, complaint, registry change and closure with the words a
    parent, a school or the registry would give (varied, the same for the same seed)."""
    for e in history:
        kind = e["type"]
        if kind == "dispute":
            e["reason"] = pick.choice(DISPUTES)
        elif kind == "refund_request":
            e["reason"] = pick.choice(REFUND_REASONS)
        elif kind == "refund_answer":
            e["reason"] = pick.choice(ANSWERS.get(str(e["decision"]), ANSWERS["dispute"]))
        elif kind == "complaint":
            e["text"] = pick.choice(COMPLAINTS.get(str(e["category"]), COMPLAINTS["other"]))
        elif kind == "closure_notice":
            e["reason"] = CLOSURE
        elif kind == "registry_change" and e["field"] == "legal_person":
            e["new"], e["reason"] = pick.choice(PEOPLE), "举办者变更，法定代表人随之变更"
        elif kind == "registry_change":
            region = regions.get(str(e["institution"]), "220400")
            street = _address(region, f"{pick.choice(STREETS)}{pick.randint(1, 300)}号")
            e["new"], e["reason"] = street, "原租赁场地到期，迁至新址办学"


def _address(district: str, street: str) -> str:
    """Province, city, district, street: 西安区 alone is also a district of 牡丹江 (黑龙江)."""
    regions = known_regions()
    city = regions[district[:4] + "00"].name
    return f"吉林省{city}{regions[district].name}{street}"


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
