"""The rule packs the service ships with, each rule citing its text (docs/domain.md).

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

UNVERIFIED_NUMBER = "文号未核实"
UNVERIFIED = "标题、文号和条款均未与公开文本逐字核对"


def src(title: str, issuer: str, **more: str) -> dict[str, str]:
    return {"title": title, "issuer": issuer, **more}


# National texts (docs/domain.md, "The texts").
MOE_2021_2 = src(
    "关于加强校外培训机构预收费监管工作的通知",
    "教育部办公厅、国家发展改革委办公厅、中国人民银行办公厅等六部门",
    number="教监管函〔2021〕2号",
    note="上限的全国性原文表述未逐字核对（见领域参考第2节）",
)
NON_SUBJECT_2022 = src(
    "关于规范面向中小学生的非学科类校外培训的意见",
    "教育部等十三部门",
    note=f"2022年12月印发；{UNVERIFIED_NUMBER}",
)
GOV_2018_80 = src(
    "国务院办公厅关于规范校外培训机构发展的意见", "国务院办公厅", number="国办发〔2018〕80号"
)
RESERVE_DEFAULT = src(
    "内蒙古自治区风险保证金规定（作为默认值，见领域参考第2节）",
    "内蒙古自治区教育厅",
    note="全国性文件仅称“一定数额”；" + UNVERIFIED,
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
        reason="学科类培训的全国默认规则",
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
        reason="非学科类培训的全国默认规则",
    ),
    Seed(
        name="national-all",
        region_code=r.NATIONAL,
        sector=r.ALL,
        effective_from=date(2018, 8, 22),
        rules={
            # No fee collection spanning more than three months (docs/domain.md, "Prepaid fees").
            "earliest_collection": (
                {"months_before_start": 1},
                src(
                    **{
                        **GOV_2018_80,
                        "note": "首课前一个月的限制系多个省份的规定（见领域参考第2节），"
                        "此处默认适用于各地",
                    }
                ),
            ),
        },
        reason="各行业通用的全国默认规则",
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
                        "吉林省校外培训机构预收费监管办法",
                        "吉林省教育厅等部门",
                        article="第七条",
                        note=f"条款依领域参考所引；{UNVERIFIED_NUMBER}；标题未核实",
                    ),
                )
            },
            reason="吉林省的收费上限（演示省份，其下各市沿用）",
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
                    note="2025年征求意见稿，尚未施行；此处自2027-01-01起适用系演示假设；"
                    + UNVERIFIED,
                ),
            )
        },
        reason="四平市2025年征求意见稿：取得许可后6个月内及列入名单期间不得预收费",
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
                    note="家长确认后拨付，7个工作日未提出异议视为同意（见领域参考第2节）；"
                    + UNVERIFIED,
                ),
            )
        },
        reason="浙江省：确认后拨付，7个工作日无异议视为同意",
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
                    note="银行对单日、单周大额支取预警；金额为演示数值，并非原文；" + UNVERIFIED,
                ),
            )
        },
        reason="杭州市：银行端支取预警",
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
        reason="北京市：本市文件重申的全国收费上限",
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
        reason="上海市：本市文件重申的全国收费上限",
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
                    "上海市体育健身行业单用途预付卡管理规定（2025年）",
                    "上海市体育局",
                    note="次卡不超过2万元、60次；每位消费者不超过2万元。本服务按同一消费者在同一"
                    "经营者处尚未消费、尚未退还的预付余额计（预付卡由一个经营者发行，学员编号只在该"
                    "机构内识别消费者；课时在异议期内、退款未付前仍计入）；" + UNVERIFIED,
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
                    "上海市体育健身行业单用途预付卡管理规定（2025年）",
                    "上海市体育局",
                    note=UNVERIFIED,
                ),
            ),
        },
        reason="上海市2025年体育健身规定：演示中的健身房",
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
                    note="三个账户（托管、风险保证金、基本户）；随消费进度拨付（见领域参考第2节）；"
                    + UNVERIFIED,
                ),
            ),
            "refund_payment_deadline": (
                {"working_days": 5},
                src(
                    "成都市校外培训机构预收费监管办法",
                    "成都市教育局等部门",
                    note="开课前退费5日内办结；是否按工作日计未核实；" + UNVERIFIED,
                ),
            ),
            "reserve_requirement": (
                {"share_of_owed": "1"},
                src(
                    "成都市校外培训机构预收费监管办法",
                    "成都市教育局等部门",
                    note="托管与风险保证金并行；保证金比例未核实",
                ),
            ),
        },
        reason="成都市：三账户管理，随消费进度拨付",
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
                    note="监管账户留存应退金额的20%；" + UNVERIFIED,
                ),
            )
        },
        reason="自贡市：最低留存应退金额的20%",
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
                    note="整单于最后一课后15个工作日拨付（见领域参考第2节）；" + UNVERIFIED,
                ),
            ),
            "complaint_holds_release": (
                {"enabled": True},
                src(
                    "芜湖市校外培训机构预收费资金监管办法",
                    "芜湖市教育局等部门",
                    note="有未办结投诉时顺延；" + UNVERIFIED,
                ),
            ),
        },
        reason="芜湖市：最后一课后拨付，有投诉时暂停",
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
                    note="按周拨付；拨付日（此处为星期一）未核实；" + UNVERIFIED,
                ),
            )
        },
        reason="厦门市：按周拨付",
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
                    note="每月拨付不超过最低余额的两倍；" + UNVERIFIED,
                ),
            ),
            "minimum_balance": (
                {"share_of_owed": "0.2"},
                src(
                    "荣成市预付式消费资金监管办法",
                    "荣成市人民政府",
                    note="最低余额比例未核实（拨付上限以其为基数）",
                ),
            ),
        },
        reason="荣成市：每月拨付不超过最低余额的两倍",
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
                    "甘肃省预付式消费管理办法（全行业）",
                    "甘肃省人民政府",
                    note="全行业预付式消费规定；退款期限及" + UNVERIFIED,
                ),
            ),
            "complaint_holds_release": (
                {"enabled": True},
                src("甘肃省预付式消费管理办法（全行业）", "甘肃省人民政府", note=UNVERIFIED),
            ),
        },
        reason="甘肃省：全行业预付式消费规定",
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
