"""Response bodies of the public disclosure (no credential)."""

from __future__ import annotations

import builtins
from typing import Literal

from pydantic import ConfigDict, Field

from service.api.schemas import Read
from service.fees.filings import Disclosure
from service.fees.models import Course
from service.kit.money import MoneyOut
from service.proofs.serving import Liabilities

LIST: dict[str, Literal["white", "black", "closed"]] = {
    "active": "white",
    "frozen": "white",
    "blacklisted": "black",
    "closed": "closed",
    "winding_down": "closed",  # no longer trading: its parents are paid by the wind-down
}


class PublicCourseRead(Read):
    id: str
    title: str
    subject: str
    grade_band: str
    mode: str
    class_size: int
    lesson_minutes: int
    lessons_total: int
    price_per_lesson: MoneyOut

    @classmethod
    def of(cls, c: Course) -> PublicCourseRead:
        return cls.model_validate(c, from_attributes=True)


class PublicInstitutionRead(Read):
    """What anyone may know of a registered institution: its list (white: supervised; black:
    blacklisted), how its prepayments are supervised, and its approved fees."""

    name: str
    credit_code: str
    region_code: str
    category: str
    status: str
    list: Literal["white", "black", "closed"]
    supervision_mode: str
    courses: builtins.list[PublicCourseRead]

    @classmethod
    def of(cls, d: Disclosure) -> PublicInstitutionRead:
        i = d.institution
        return cls(
            name=i.name,
            credit_code=i.credit_code,
            region_code=i.region_code,
            category=i.category,
            status=i.status,
            list=LIST[i.status],
            supervision_mode=i.supervision_mode,
            courses=[PublicCourseRead.of(c) for c in d.courses],
        )


class LiabilitiesRead(Read):
    """An institution's published liabilities to parents on a day (docs/proofs.md): the sum
    tree's root and total, the custody bank's closing balance that day, coverage = attested ÷
    total (4 decimals; null without a statement or with nothing owed), and the log entry."""

    snapshot_id: str
    date: str
    root: str
    total: MoneyOut
    leaf_count: int
    attested_balance: MoneyOut | None
    coverage: str | None
    log_index: int

    @classmethod
    def of(cls, x: Liabilities) -> LiabilitiesRead:
        return cls(snapshot_id=x.snapshot_id, date=x.date, root=x.root, total=x.total,
                   leaf_count=x.leaf_count, attested_balance=x.attested_balance,
                   coverage=None if x.coverage is None else str(x.coverage),
                   log_index=x.log_index)  # fmt: skip


class LogEntryRead(Read):
    index: int
    entry: str  # canonical JSON (docs/proofs.md §4)


class LogEntriesRead(Read):
    items: list[LogEntryRead]


class InclusionRead(Read):
    index: int
    size: int
    hashes: list[str]


class ConsistencyRead(Read):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    hashes: list[str]


class LogKeysRead(Read):
    """The log's key and every witness's as C2SP vkeys, and the cosignatures a checkpoint
    needs to count."""

    log: str
    witnesses: list[str]
    quorum: int
