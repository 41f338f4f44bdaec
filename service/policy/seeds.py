"""The rule packs the service ships with, each rule citing its text (`../shared/DOMAIN.md`).

Loaded with the reference data after every migration (`service.tables.load_reference`), each
seed once: a seed is a version of its region's layer written by `seed:<name>`, and one already
written is never written again (a regulator's later version composes with it; a seed that
must change is a new seed with a later day). Where a title, a number, an article or a figure
was not checked word for word against the published text, the citation's `note` says so: treat
it as a value to verify before relying on it, not as the text's word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.kit.ids import new_id
from service.policy import packs
from service.policy import rules as r
from service.policy.models import RulePackVersion

UNVERIFIED_NUMBER = "document number not verified"
UNVERIFIED = "title, number and article not verified against the published text"


def src(title: str, issuer: str, **more: str) -> dict[str, str]:
    return {"title": title, "issuer": issuer, **more}


# National texts (DOMAIN.md §1).
MOE_2021_2 = src(
    "关于加强校外培训机构预收费监管工作的通知",
    "教育部办公厅、国家发展改革委办公厅、中国人民银行办公厅等六部门",
    number="教监管函〔2021〕2号",
    note="the caps' exact national sentence not verified word for word (DOMAIN.md §2)",
)
NON_SUBJECT_2022 = src(
    "关于规范面向中小学生的非学科类校外培训的意见",
    "教育部等十三部门",
    note=f"issued 2022-12; {UNVERIFIED_NUMBER}",
)
GOV_2018_80 = src(
    "国务院办公厅关于规范校外培训机构发展的意见", "国务院办公厅", number="国办发〔2018〕80号"
)
RESERVE_DEFAULT = src(
    "Inner Mongolia's reserve rule, taken as the default (DOMAIN.md §2)",
    "内蒙古自治区教育厅",
    note="the national text says only 'a certain amount'; " + UNVERIFIED,
)


@dataclass(frozen=True, kw_only=True)
class Seed:
    name: str
    region_code: str
    sector: str
    effective_from: date
    rules: dict[str, tuple[Any, dict[str, str]]] = field(default_factory=dict)
    reason: str = ""


CAPS = {"lessons": 60, "months": 3}
SEEDS: tuple[Seed, ...] = (
    # -- national ------------------------------------------------------------------------------
    Seed(
        name="national-subject",
        region_code=r.NATIONAL,
        sector="education_subject",
        effective_from=date(2021, 10, 1),
        rules={
            "prepay_caps": (CAPS, MOE_2021_2),
            "reserve_requirement": ({"share_of_owed": "1"}, RESERVE_DEFAULT),
        },
        reason="national defaults for subject training",
    ),
    Seed(
        name="national-non-subject",
        region_code=r.NATIONAL,
        sector="education_non_subject",
        effective_from=date(2022, 12, 1),
        rules={
            "prepay_caps": ({**CAPS, "amount": "5000"}, NON_SUBJECT_2022),
            "reserve_requirement": ({"share_of_owed": "1"}, RESERVE_DEFAULT),
        },
        reason="national defaults for non-subject training",
    ),
    Seed(
        name="national-all",
        region_code=r.NATIONAL,
        sector=r.ALL,
        effective_from=date(2018, 8, 22),
        rules={
            # No fee collection spanning more than three months (DOMAIN.md §1).
            "earliest_collection": (
                {"months_before_start": 1},
                src(
                    **{
                        **GOV_2018_80,
                        "note": "the one-month rule is several provinces' "
                        "(DOMAIN.md §2), applied everywhere by default",
                    }
                ),
            ),
        },
        reason="national defaults for every sector",
    ),
    # -- Jilin (the demo) ----------------------------------------------------------------------
    *(
        Seed(
            name=f"jilin-{sector}",
            region_code="220000",
            sector=sector,
            effective_from=date(2021, 12, 1),
            rules={
                "prepay_caps": (
                    {**CAPS, **({"amount": "5000"} if sector.endswith("non_subject") else {})},
                    src(
                        "吉林省校外培训机构预收费监管办法 (the province's double-reduction "
                        "measures: the seed text of DOMAIN.md)",
                        "吉林省教育厅等部门",
                        article="第七条",
                        note=f"article as DOMAIN.md cites it; {UNVERIFIED_NUMBER}; title "
                        "not verified",
                    ),
                )
            },
            reason="Jilin's caps (the demo's province; its cities inherit them)",
        )
        for sector in ("education_subject", "education_non_subject")
    ),
    Seed(
        name="siping-entry-gate",
        region_code="220300",
        sector=r.ALL,
        # A 2025 draft: not in force. Seeded from 2027 so the demo can show the gate without
        # claiming the draft applies today.
        effective_from=date(2027, 1, 1),
        rules={
            "entry_gate": (
                {
                    "months_after_licence": 6,
                    "credit_lists": ["dishonest_debtors", "abnormal_operations"],
                },
                src(
                    "四平市预付式消费管理办法（征求意见稿）",
                    "四平市人民政府",
                    note="a 2025 draft (征求意见稿), not in force; the day it applies here "
                    "(2027-01-01) is the demo's assumption; " + UNVERIFIED,
                ),
            )
        },
        reason="Siping's 2025 draft: no prepaid sales in the first 6 months, none while listed",
    ),
    # -- Zhejiang and Hangzhou -----------------------------------------------------------------
    Seed(
        name="zhejiang",
        region_code="330000",
        sector=r.ALL,
        effective_from=date(2022, 1, 1),
        rules={
            "confirmation_window": (
                {"working_days": 7},
                src(
                    "浙江省校外培训机构预收费资金监管办法",
                    "浙江省教育厅等部门",
                    note="release after the parent confirms; 7 working days of silence are "
                    "consent (DOMAIN.md §2); " + UNVERIFIED,
                ),
            )
        },
        reason="Zhejiang: release on confirmation, silence is consent after 7 working days",
    ),
    Seed(
        name="hangzhou",
        region_code="330100",
        sector=r.ALL,
        effective_from=date(2022, 3, 1),
        rules={
            "bank_warnings": (
                {"daily_withdrawals": "50000", "weekly_withdrawals": "200000"},
                src(
                    "杭州市校外培训机构预收费资金监管实施细则",
                    "杭州市教育局",
                    note="the bank warns of large daily and weekly withdrawals; the amounts "
                    "are the demo's, not the text's; " + UNVERIFIED,
                ),
            )
        },
        reason="Hangzhou: bank-side warnings on withdrawals",
    ),
    # -- Beijing, Shanghai ---------------------------------------------------------------------
    Seed(
        name="beijing",
        region_code="110000",
        sector="education_subject",
        effective_from=date(2021, 11, 1),
        rules={
            "prepay_caps": (
                CAPS,
                src(
                    "北京市校外培训机构预收费资金监管办法",
                    "北京市教育委员会等部门",
                    note=UNVERIFIED,
                ),
            )
        },
        reason="Beijing: the national caps as the city's own text sets them",
    ),
    Seed(
        name="shanghai",
        region_code="310000",
        sector="education_subject",
        effective_from=date(2021, 11, 1),
        rules={
            "prepay_caps": (
                CAPS,
                src(
                    "上海市校外培训机构预收费资金监管办法",
                    "上海市教育委员会等部门",
                    note=UNVERIFIED,
                ),
            )
        },
        reason="Shanghai: the national caps as the city's own text sets them",
    ),
    Seed(
        name="shanghai-fitness",
        region_code="310000",
        sector="fitness",
        effective_from=date(2025, 1, 1),
        rules={
            "prepay_caps": (
                {"lessons": 60, "months": 24, "amount": "20000", "per_consumer": "20000"},
                src(
                    "上海市体育健身行业单用途预付卡管理规定 (2025)",
                    "上海市体育局",
                    note="sessions at most 20,000 yuan and 60 sessions; at most 20,000 yuan "
                    "per consumer; " + UNVERIFIED,
                ),
            ),
            "card_caps": (
                {
                    "membership_amount": "5000",
                    "membership_months": 24,
                    "sessions_amount": "20000",
                    "sessions": 60,
                    "stored_value_amount": "5000",
                },
                src(
                    "上海市体育健身行业单用途预付卡管理规定 (2025)", "上海市体育局", note=UNVERIFIED
                ),
            ),
        },
        reason="Shanghai's 2025 fitness rules: the gym in the demo",
    ),
    # -- Sichuan: Chengdu, Zigong --------------------------------------------------------------
    Seed(
        name="chengdu",
        region_code="510100",
        sector=r.ALL,
        effective_from=date(2022, 1, 1),
        rules={
            "release_cadence": (
                {"mode": "per_lesson"},
                src(
                    "成都市校外培训机构预收费监管办法",
                    "成都市教育局等部门",
                    note="three accounts (custody, reserve, basic); release in step with "
                    "consumption (DOMAIN.md §2); " + UNVERIFIED,
                ),
            ),
            "refund_payment_deadline": (
                {"working_days": 5},
                src(
                    "成都市校外培训机构预收费监管办法",
                    "成都市教育局等部门",
                    note="refund before the start within 5 days; whether working days not "
                    "verified; " + UNVERIFIED,
                ),
            ),
            "reserve_requirement": (
                {"share_of_owed": "1"},
                src(
                    "成都市校外培训机构预收费监管办法",
                    "成都市教育局等部门",
                    note="custody and a reserve at once; the reserve's share not verified",
                ),
            ),
        },
        reason="Chengdu: three accounts, release in step with consumption",
    ),
    Seed(
        name="zigong",
        region_code="510300",
        sector=r.ALL,
        effective_from=date(2022, 6, 1),
        rules={
            "minimum_balance": (
                {"share_of_owed": "0.2"},
                src(
                    "自贡市校外培训机构预收费资金监管办法",
                    "自贡市教育和体育局等部门",
                    note="the supervised account keeps 20% of what is owed; " + UNVERIFIED,
                ),
            )
        },
        reason="Zigong: a minimum balance of 20% of what is owed",
    ),
    # -- Anhui: Wuhu; Fujian: Xiamen; Shandong: Rongcheng; Gansu --------------------------------
    Seed(
        name="wuhu",
        region_code="340200",
        sector=r.ALL,
        effective_from=date(2022, 3, 1),
        rules={
            "release_cadence": (
                {"mode": "after_last_lesson", "working_days_after": 15},
                src(
                    "芜湖市校外培训机构预收费资金监管办法",
                    "芜湖市教育局等部门",
                    note="the whole order 15 working days after the last lesson (DOMAIN.md §2); "
                    + UNVERIFIED,
                ),
            ),
            "complaint_holds_release": (
                {"enabled": True},
                src(
                    "芜湖市校外培训机构预收费资金监管办法",
                    "芜湖市教育局等部门",
                    note="later if a complaint is open; " + UNVERIFIED,
                ),
            ),
        },
        reason="Wuhu: release after the last lesson, held while a complaint is open",
    ),
    Seed(
        name="xiamen",
        region_code="350200",
        sector=r.ALL,
        effective_from=date(2022, 3, 1),
        rules={
            "release_cadence": (
                {"mode": "weekly", "weekday": 1},
                src(
                    "厦门市校外培训机构预收费资金监管办法",
                    "厦门市教育局等部门",
                    note="released weekly; the weekday (Monday here) not verified; " + UNVERIFIED,
                ),
            )
        },
        reason="Xiamen: weekly release",
    ),
    Seed(
        name="rongcheng",
        region_code="371082",
        sector=r.ALL,
        effective_from=date(2023, 1, 1),
        rules={
            "payout_cap": (
                {"monthly_multiple_of_minimum": "2"},
                src(
                    "荣成市预付式消费资金监管办法",
                    "荣成市人民政府",
                    note="a month's payout at most twice the minimum balance; " + UNVERIFIED,
                ),
            ),
            "minimum_balance": (
                {"share_of_owed": "0.2"},
                src(
                    "荣成市预付式消费资金监管办法",
                    "荣成市人民政府",
                    note="the minimum balance's share not verified (the payout cap needs one)",
                ),
            ),
        },
        reason="Rongcheng: monthly payouts capped at twice the minimum balance",
    ),
    Seed(
        name="gansu",
        region_code="620000",
        sector=r.ALL,
        effective_from=date(2024, 1, 1),
        rules={
            "refund_payment_deadline": (
                {"working_days": 7},
                src(
                    "甘肃省预付式消费管理办法 (all industries)",
                    "甘肃省人民政府",
                    note="an all-industry prepaid-consumption rule; the refund period and "
                    + UNVERIFIED,
                ),
            ),
            "complaint_holds_release": (
                {"enabled": True},
                src("甘肃省预付式消费管理办法 (all industries)", "甘肃省人民政府", note=UNVERIFIED),
            ),
        },
        reason="Gansu: the all-industry prepaid rules",
    ),
)


def seed(session: Session, *, now: datetime) -> int:
    """Write the seeds not yet written; how many were."""
    done = set(
        session.scalars(
            select(RulePackVersion.actor).where(RulePackVersion.actor.startswith("seed:"))
        )
    )
    written = 0
    for s in SEEDS:
        actor = f"seed:{s.name}"
        if actor in done:
            continue
        checked = packs.checked(
            s.sector, {k: {"value": v, "source": c} for k, (v, c) in s.rules.items()}
        )
        last = session.scalar(
            select(func.max(RulePackVersion.version)).where(
                RulePackVersion.region_code == s.region_code,
                RulePackVersion.sector == s.sector,
            )
        )
        session.add(
            RulePackVersion(
                id=new_id("rpk"),
                region_code=s.region_code,
                sector=s.sector,
                version=(last or 0) + 1,
                effective_from=s.effective_from,
                rules={k: e.model_dump(mode="json", exclude_none=True) for k, e in checked.items()},
                changed=sorted(checked),
                reason=s.reason,
                actor=actor,
                created_at=now,
            )
        )
        written += 1
    if written:
        session.flush()
        packs.forget()
    return written
