"""Plain typed factories for test data, built through the real domain code."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from service.bank_gateway.signing import signed_headers
from service.flows import onboarding
from service.kit.clock import local_date
from service.kit.db import make_sessionmaker, run_in_transaction
from service.registry import institutions
from service.registry.credentials import create_bank, create_regulator
from service.registry.identifiers import make_credit_code
from service.registry.models import Regulator

SECRET_KEY = "test-secret-key-0123456789"
_counter = itertools.count(1)


@dataclass(frozen=True)
class BankCred:
    id: str
    secret: str

    def headers(
        self, method: str, path: str, body: bytes = b"", *, at: int | None = None
    ) -> dict[str, str]:
        return signed_headers(
            self.secret,
            bank_id=self.id,
            timestamp=at if at is not None else int(time.time()),
            method=method,
            path_and_query=path,
            body=body,
        )


def regulator(engine: Engine, region: str = "220000") -> tuple[str, str]:
    issued = run_in_transaction(
        make_sessionmaker(engine),
        lambda s: create_regulator(
            s, name=f"reg-{uuid.uuid4().hex[:6]}", region_code=region, now=datetime.now(UTC)
        ),
    )
    return issued.id, issued.credential


def officer(engine: Engine, regulator_id: str, role: str = "officer") -> Any:
    """An officer of the office (`service.registry.officers.Created`: id, username, password,
    TOTP secret)."""
    from service.registry import officers

    def make(s: Any) -> Any:
        return officers.create_officer(
            s, regulator=s.get(Regulator, regulator_id), name=f"officer-{uuid.uuid4().hex[:6]}",
            role=role, now=datetime.now(UTC), secret_key=SECRET_KEY, actor="test",
        )  # fmt: skip

    return run_in_transaction(make_sessionmaker(engine), make)


def officer_token(engine: Engine, officer_id: str) -> tuple[str, str]:
    """An API token of the officer: (its id, the token)."""
    from service.registry import officer_tokens
    from service.registry.models import Officer

    def make(s: Any) -> tuple[str, str]:
        o = s.get(Officer, officer_id)
        made = officer_tokens.issue(s, officer=o, region_code="000000", name="test", days=30,
                                    now=datetime.now(UTC))  # fmt: skip
        return made.row.id, made.token

    return run_in_transaction(make_sessionmaker(engine), make)


def officer_session(engine: Engine, officer_id: str) -> str:
    """A bearer session of the officer as signing in opens one (no TOTP step spent)."""
    from service.registry import officers
    from service.registry.models import Officer

    def make(s: Any) -> str:
        opened = officers._open(s, s.get(Officer, officer_id), datetime.now(UTC))
        return opened.token

    return run_in_transaction(make_sessionmaker(engine), make)


def bank(engine: Engine, url: str | None = None) -> BankCred:
    issued = run_in_transaction(
        make_sessionmaker(engine),
        lambda s: create_bank(
            s,
            name="Test Bank",
            code=f"B{uuid.uuid4().hex[:8]}",
            instruction_url=url,
            secret_key=SECRET_KEY,
            now=datetime.now(UTC),
        ),
    )
    return BankCred(issued.id, issued.credential)


def credit_code(region: str = "220402") -> str:
    n = next(_counter) + int(uuid.uuid4().int % 10**6) * 1000
    return make_credit_code("52", region, f"MA{n % 10**6:06d}")


def institution_body(bank_id: str, region: str = "220102", **over: Any) -> dict[str, Any]:
    body = {
        "name": f"Test School {uuid.uuid4().hex[:6]}",
        "credit_code": credit_code(region),
        "region_code": region,
        "category": "subject",
        "supervision_mode": "custody",
        "bank_id": bank_id,
        "escrow_account_no": f"6227{uuid.uuid4().int % 10**12:012d}",
        "operating_account_no": f"6228{uuid.uuid4().int % 10**12:012d}",
    }
    body.update(over)
    return body


def institution(
    engine: Engine, bank_id: str, region: str = "220102", **over: Any
) -> tuple[str, str]:
    """Register directly through the domain; returns (institution id, api key)."""

    def work(s: Any) -> tuple[str, str]:
        reg = Regulator(
            id=f"reg_{uuid.uuid4().hex}",
            name="factory",
            region_code="220000",
            token_hash=uuid.uuid4().hex,
            created_at=datetime.now(UTC),
        )
        s.add(reg)
        s.flush()
        data = institutions.NewInstitution(**institution_body(bank_id, region, **over))
        inst, key = onboarding.register_institution(
            s, regulator=reg, data=data, now=datetime.now(UTC)
        )
        return inst.id, key

    return run_in_transaction(make_sessionmaker(engine), work)


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def school_days(
    start: str, n: int, *, hour: int = 16, minutes: int = 45, every: int = 1
) -> list[dict[str, str]]:
    """`n` sessions on school days (Mon-Fri, not holidays) from `start`, Beijing time."""
    from datetime import date, timedelta

    from service.fees.calendar import school_day
    from service.kit.clock import SHANGHAI

    out, day = [], date.fromisoformat(start)
    while len(out) < n:
        if school_day(day)[0] and day.weekday() < 5:
            s = datetime(day.year, day.month, day.day, hour, 0, tzinfo=SHANGHAI)
            out.append(
                {
                    "starts_at": s.isoformat(),
                    "ends_at": (s + timedelta(minutes=minutes)).isoformat(),
                }
            )
        day += timedelta(days=every)
    return out


def next_monday() -> str:
    """A school week still to come, so that a course filed for it is never already over."""
    from datetime import timedelta

    from service.kit.clock import SHANGHAI

    today = datetime.now(SHANGHAI).date()
    return (today + timedelta(days=7 - today.weekday())).isoformat()


def course_body(start: str | None = None, n: int = 20, **over: Any) -> dict[str, Any]:
    start = start or next_monday()
    body = {
        "title": "Junior maths",
        "subject": "math",
        "category": "subject",
        "grade_band": "junior",
        "mode": "offline",
        "class_size": 20,
        "lesson_minutes": 45,
        "lessons_total": n,
        "price_per_lesson": "20.00",
        "sessions": school_days(start, n),
    }
    body.update(over)
    return body


def file_maths_course(
    session: Any, institution: Any, *, now: datetime, sessions: int, start: str | None = None
) -> Any:
    """File, in `session`, a junior maths course of `sessions` 45-minute school-day lessons
    from `start` (default: today) at 20.00 a lesson, the guidance price; returns the course."""
    from decimal import Decimal

    from service.fees.filings import CourseData, file_course

    when = tuple(
        (datetime.fromisoformat(x["starts_at"]), datetime.fromisoformat(x["ends_at"]))
        for x in school_days(start or local_date(now).isoformat(), sessions)
    )
    data = CourseData(
        title="初中数学", subject="math", category="subject", grade_band="junior", mode="offline", class_size=20, lesson_minutes=45, lessons_total=sessions,
        price_per_lesson=Decimal("20.00"), list_price_per_lesson=None, sessions=when,
    )  # fmt: skip
    return file_course(session, institution=institution, now=now, data=data)


_addresses = itertools.count(1)


def client_address() -> str:
    """An address no other test client of this process used: a parent's or a guesser's
    failures then count against no one else."""
    n = next(_addresses)
    return f"10.{n // 250 % 250}.{n % 250 + 1}.1"


def pack_override(
    engine: Engine,
    region: str,
    rules: dict[str, Any],
    *,
    sector: str = "all",
    effective_from: Any = None,
) -> None:
    """A version of a region's pack written as a row (as by hand: from a past day, or with a
    value the API would refuse), and the packs' cache emptied. `rules` is {name: value}."""
    from datetime import date

    from sqlalchemy import func, select

    from service.policy import packs
    from service.policy.models import RulePackVersion

    def work(s: Any) -> None:
        last = s.scalar(
            select(func.max(RulePackVersion.version)).where(
                RulePackVersion.region_code == region, RulePackVersion.sector == sector
            )
        )
        s.add(
            RulePackVersion(
                id=f"rpk_{uuid.uuid4().hex[:20]}",
                region_code=region,
                sector=sector,
                version=(last or 0) + 1,
                effective_from=effective_from or date(2000, 1, 1),
                rules={
                    k: {"value": v, "source": {"title": "test", "issuer": "tests"}}
                    for k, v in rules.items()
                },
                changed=sorted(rules),
                reason=None,
                actor="tests",
                created_at=datetime.now(UTC),
            )
        )

    run_in_transaction(make_sessionmaker(engine), work)
    packs.forget()


def drop_pack_overrides(engine: Engine, region: str) -> None:
    """Every version of a region's packs gone (a test's own district, after it)."""
    from sqlalchemy import delete

    from service.policy import packs
    from service.policy.models import RulePackVersion

    run_in_transaction(
        make_sessionmaker(engine),
        lambda s: s.execute(delete(RulePackVersion).where(RulePackVersion.region_code == region)),
    )
    packs.forget()
