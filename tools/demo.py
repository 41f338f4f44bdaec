"""A demo region: Jilin province, with institutions in Liaoyuan (220400) and Siping (220300);
and a gym in Shanghai's Xuhui district (310104) under the `fitness` pack (Shanghai's 2025 rules
on prepaid fitness cards), which differs from a school only in its data: its category and its
region's regulator. One Siping school is on the regulator's abnormal-operations list, which
Siping's entry gate (its 2025 draft, seeded from 2027-01-01) refuses prepaid sales on.

Seeding is idempotent in effect. Only hashes of tokens are stored, so a token can be printed
again only if it was kept: the caller hands back the credentials printed last time (`known`),
and each one that still matches its hash is printed again, not re-issued, so a second
`make run` logs nobody out. A credential missing or no longer matching is issued afresh.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.flows import onboarding
from service.flows.models import Deposit, Instruction, Statement
from service.kit.clock import end_of_local_day
from service.kit.ids import new_token, token_hash
from service.policy import credit_lists
from service.registry import institution_keys, institutions
from service.registry.credentials import create_bank, create_regulator, encrypt_secret
from service.registry.identifiers import make_credit_code
from service.registry.models import Bank, Institution, Regulator
from service.registry.regions import known_regions, sync_regions

DEMO_BANK_CODE = "JLB-DEMO"
DEMO_BANK_ID = "bank_demo_jilin"
DEMO_BANK_NAME = "吉林银行托管部（演示）"
DEMO_BANK_SECRET = "demo-bank-secret-not-for-production"  # noqa: S105 - demo only

REGULATORS = [
    ("吉林省教育厅（演示）", "220000"),
    ("辽源市教育局（演示）", "220400"),
    ("四平市教育局（演示）", "220300"),
    ("上海市体育局（演示）", "310000"),
]
# What the demo called them before (a database seeded then is renamed, not seeded twice).
FORMER = " (demo)"

INSTITUTIONS = [
    ("龙山区启明学科培训学校", "220402", "subject", "custody", "MJ100001"),
    ("西安区博文学科培训中心", "220403", "subject", "custody", "MJ100002"),
    ("东丰县艺术培训学校", "220421", "non_subject", "custody", "MJ100003"),
    ("铁西区育才学科培训学校", "220302", "subject", "reserve", "MJ100004"),
    ("梨树县青苗体育培训中心", "220322", "non_subject", "custody", "MJ100005"),
    ("徐汇区动力健身中心", "310104", "fitness", "custody", "MJ100006"),
]
# On a list a regulator keeps (service.policy.credit_lists): (credit code's org part, list,
# reason). Siping's entry gate names both lists from 2027-01-01.
LISTED = [("MJ100005", "abnormal_operations", "列入经营异常名录（演示）")]


def refuse_outside_development(settings: Settings) -> None:
    """The demo creates a custody-bank login whose secret (DEMO_BANK_SECRET) and regulators
    this file publishes: seeded into a production database, anyone could sign deposits."""
    if settings.environment != "development":
        raise DomainError(
            "development_only",
            f"demo seed runs only where ENVIRONMENT=development (here: {settings.environment}); "
            "it creates a custody-bank login whose secret is published in the repository",
        )


LEGAL_PERSONS = ("王建国", "李秀英", "张志强", "刘晓燕", "陈国栋", "赵丽华")


def _kept(known: dict[str, Any], *path: str) -> str | None:
    """A token printed last time, if the file has it."""
    value: Any = known
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _token(stored_hash: str, previous: str | None, prefix: str) -> str | None:
    """The previous token where it still opens the door; None where one must be issued."""
    if previous and previous.startswith(prefix) and token_hash(previous) == stored_hash:
        return previous
    return None


def seed(
    session: Session,
    *,
    settings: Settings,
    now: datetime,
    bank_url: str | None,
    known: dict[str, Any] | None = None,
) -> dict[str, Any]:
    refuse_outside_development(settings)
    known = known or {}
    sync_regions(session)
    bank = session.scalar(select(Bank).where(Bank.code == DEMO_BANK_CODE))
    if bank is None:
        issued = create_bank(
            session,
            bank_id=DEMO_BANK_ID,
            name=DEMO_BANK_NAME,
            code=DEMO_BANK_CODE,
            instruction_url=bank_url,
            secret_key=settings.secret_key,
            now=now,
            secret=DEMO_BANK_SECRET,
        )
        bank = session.get(Bank, issued.id)
        assert bank is not None
    else:
        bank.name = DEMO_BANK_NAME
        bank.instruction_url = bank_url or bank.instruction_url
        bank.secret_ciphertext = encrypt_secret(settings.secret_key, DEMO_BANK_SECRET)

    regulators = {}
    offices: dict[str, Regulator] = {}
    for name, region in REGULATORS:
        former = name.replace("（演示）", FORMER)
        reg = session.scalar(select(Regulator).where(Regulator.name.in_((name, former))))
        if reg is not None:
            reg.name = name
        if reg is None:
            issued = create_regulator(session, name=name, region_code=region, now=now)
            reg = session.get(Regulator, issued.id)
            assert reg is not None
        offices[region] = reg
        token = _token(reg.token_hash, _kept(known, "regulators", region, "token"), "tgr_")
        if token is None:
            token = new_token("tgr")
            reg.token_hash = token_hash(token)
        regulators[region] = {
            "name": name,
            "token": token,
            "officers": _demo_officers(session, reg, settings.secret_key, now),
        }

    _demo_guides(session, now)
    before = {
        i.get("id"): i.get("api_key") for i in known.get("institutions", []) if isinstance(i, dict)
    }
    created = []
    for i, (name, region, category, mode, org) in enumerate(INSTITUTIONS, start=1):
        code = make_credit_code("52", region, org)
        inst = session.scalar(select(Institution).where(Institution.credit_code == code))
        if inst is None:
            inst, fresh = onboarding.register_institution(
                session,
                regulator=offices[region[:2] + "0000"],  # the province's (Shanghai's) office
                data=institutions.NewInstitution(
                    name=name,
                    credit_code=code,
                    region_code=region,
                    category=category,
                    supervision_mode=mode,
                    bank_id=bank.id,
                    escrow_account_no=f"62270000{i:08d}",
                    operating_account_no=f"62280000{i:08d}",
                    reserve_account_no=f"62290000{i:08d}" if mode == "reserve" else None,
                    legal_person=LEGAL_PERSONS[i - 1],
                    address=f"吉林省{known_regions()[region].name}人民大街{i * 17}号",
                ),
                now=now,
            )
            before[inst.id] = fresh
        key = before.get(inst.id)
        if not key or institution_keys.institution_by_key(session, key, now) is not inst:
            # The key printed last time no longer opens the door (or none was kept): the
            # next one, beside whatever keys the school has issued itself.
            key = institution_keys.issue(session, institution=inst, name="demo", now=now,
                                         actor="service:demo").api_key  # fmt: skip
        created.append(
            {
                "id": inst.id,
                "name": inst.name,
                "region": region,
                "api_key": key,
                "escrow_account_no": inst.escrow_account_no,
            }
        )
    session.flush()
    _demo_lists(session, offices, now)
    return {
        "bank": {"id": bank.id, "code": bank.code, "secret": DEMO_BANK_SECRET},
        "regulators": regulators,
        "institutions": created,
    }


def _demo_lists(session: Session, offices: dict[str, Regulator], now: datetime) -> None:
    """The demo's credit lists, put by the city's office (already on it: left as it is)."""
    for org, list_name, reason in LISTED:
        region = next(r for _, r, _, _, o in INSTITUTIONS if o == org)
        inst = session.scalar(
            select(Institution).where(
                Institution.credit_code == make_credit_code("52", region, org)
            )
        )
        assert inst is not None
        credit_lists.add(session, regulator=offices[region[:4] + "00"], list_name=list_name,
                         institution_id=inst.id, reason=reason, now=now)  # fmt: skip


# Each demo office's people: a clerk who reads, an officer who works cases, a chief who signs
# off, and an administrator who manages the office's officers in the workbench
# (docs/security.md "Officers and roles").
DEMO_OFFICERS = (("clerk", "科员", "viewer"), ("officer", "经办人", "officer"),
                 ("chief", "科长", "supervisor"), ("admin", "系统管理员", "admin"))  # fmt: skip


def _demo_officers(
    session: Session, office: Regulator, secret_key: str, now: datetime
) -> list[dict[str, str]]:
    """The office's four demo officers, with credentials derived from the service's secret key
    (the same on every run of a development database; the demo runs nowhere else): username,
    password, TOTP secret and its otpauth:// link for an authenticator app."""
    import base64
    import hashlib
    import hmac

    from service.registry import officers
    from service.registry.models import Officer

    out = []
    for handle, title, role in DEMO_OFFICERS:
        username = f"{office.region_code}.{handle}"
        seed = hmac.new(secret_key.encode(), f"demo-officer:{username}".encode(), hashlib.sha256)
        password = base64.urlsafe_b64encode(seed.digest()[:15]).decode()
        totp_secret = base64.b32encode(seed.digest()[15:35]).decode()
        found = session.scalar(select(Officer).where(Officer.username == username))
        if found is None:
            officers.create_officer(
                session, regulator=office, name=f"{office.name.split('（')[0]}{title}",
                role=role, now=now, secret_key=secret_key, actor="service:demo", username=username,
                password=password, totp_secret=totp_secret,
            )  # fmt: skip
        elif officers.stale_demo_credentials(found, password, totp_secret, secret_key):
            officers.reset_credentials(found, password, totp_secret, secret_key)
        out.append({
            "username": username, "role": role, "password": password,
            "totp_secret": totp_secret,
            "otpauth": officers.otpauth_uri(username, totp_secret),
        })  # fmt: skip
    return out


def _demo_guides(session: Session, now: datetime) -> None:
    """Liaoyuan and Siping have not published tables we could find; the demo gives them
    Changchun's (marked as such), so that subject courses there can be priced."""
    from datetime import date

    from service.fees.guides import GuideDraft, GuideItem, Publisher, publish_guide

    def item(mode: str, lo: int, hi: int | None, minutes: int, price: str) -> GuideItem:
        fields = {"mode": mode, "class_size_min": lo, "class_size_max": hi,
                  "standard_minutes": minutes, "base_price": price}  # fmt: skip
        return GuideItem.model_validate(fields)

    items = [
        item("offline", 1, 9, 45, "27.27"),
        item("offline", 10, 35, 45, "22.73"),
        item("offline", 36, None, 45, "18.18"),
        item("online", 1, None, 30, "16.00"),
    ]
    by = Publisher(actor="service:demo", via="demo")
    for region in ("220400", "220300"):
        draft = GuideDraft(region_code=region, effective_from=date(2022, 1, 1), items=items,
                           source="demo only: Changchun's table")  # fmt: skip
        publish_guide(session, by=by, draft=draft, existing="keep", now=now)


def bank_book(session: Session) -> dict[str, Decimal]:
    """What the demo bank holds on each supervised account (escrow and reserve) of its
    institutions, as the bank's own records in the service leave it: the last statement's
    closing balance, then what the bank booked after that day (parents' payments in, executed
    instructions out); an account never stated, its bookings alone. The simulator `make run`
    starts opens its accounts at these balances, so that it can pay what the service instructs
    after the history replay (money taken out without an instruction stays missing)."""
    bank = session.scalar(select(Bank.id).where(Bank.code == DEMO_BANK_CODE))
    rows = session.execute(
        select(Institution.escrow_account_no, Institution.reserve_account_no).where(
            Institution.bank_id == bank
        )
    ).all()
    accounts = sorted({a for row in rows for a in row if a})
    return {a: _booked(session, str(bank), a) for a in accounts}


def _booked(session: Session, bank: str, account: str) -> Decimal:
    last = session.execute(
        select(Statement.statement_date, Statement.closing_balance)
        .where(Statement.bank_id == bank, Statement.account_no == account)
        .order_by(Statement.statement_date.desc())
        .limit(1)
    ).first()
    # What the last statement holds, then what was booked after its day (or everything).
    balance = last[1] if last else Decimal("0.00")
    since = end_of_local_day(date.fromisoformat(last[0]) if last else date.min)
    credits = session.scalar(
        select(func.sum(Deposit.amount)).where(
            Deposit.bank_id == bank, Deposit.account_no == account, Deposit.paid_at > since
        )
    )
    debits = session.scalar(
        select(func.sum(Instruction.amount)).where(
            Instruction.bank_id == bank,
            Instruction.account_no == account,
            Instruction.status == "executed",
            Instruction.executed_at > since,
        )
    )
    return balance + (credits or Decimal("0.00")) - (debits or Decimal("0.00"))
