"""Request and response bodies of the regulator's API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue, StrictBool, StrictInt, StrictStr, model_validator

from service.api.schemas import (
    BreakRead,
    IndicatorRead,
    Read,
    RiskDetailRead,
    RiskRead,
    SupervisedBalancesRead,
    supervised_balances,
)
from service.fees.guides import GuideDraft
from service.fees.models import PriceGuide, PriceGuideItem, SchoolVacation
from service.flows.balances import InstitutionBalances
from service.flows.statements import Reconciled
from service.kit.money import Day, DayOut, Instant, InstantOut, MoneyOut
from service.kit.wire import RegionCode, Strict, WholeNumber
from service.policy.region_settings import KEYS
from service.registry.identifiers import CREDIT_CODE_PATTERN
from service.registry.models import Institution
from service.risk.models import RiskEvaluation

Mode = Literal["offline", "online"]


class InstitutionIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    credit_code: str = Field(pattern=CREDIT_CODE_PATTERN)
    region_code: RegionCode
    category: Literal["subject", "non_subject"]
    supervision_mode: Literal["custody", "reserve"]
    bank_id: str = Field(min_length=1, max_length=64)
    escrow_account_no: str = Field(min_length=4, max_length=64)
    operating_account_no: str | None = Field(default=None, min_length=4, max_length=64)
    reserve_account_no: str | None = Field(default=None, min_length=4, max_length=64)
    legal_person: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=300)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class NoteIn(Strict):
    note: str = Field(min_length=1, max_length=2000)


class RegistryChangeIn(Strict):
    field: Literal["legal_person", "address"]
    value: str = Field(min_length=1, max_length=300)
    reason: str | None = Field(default=None, max_length=2000)


class ClosureIn(Strict):
    effective: Day = Field(description="the Beijing day the institution closes (today or later)")
    reason: str = Field(min_length=1, max_length=2000)


class StatusIn(Strict):
    status: Literal["blacklisted", "closed"]
    reason: str = Field(min_length=1, max_length=2000)


class PriceGuideIn(GuideDraft):
    """A guide (the domain's own typed model: every caller is checked the same way)."""

    supersede: StrictBool = Field(
        default=False,
        description="replace the guide published for this region and day (it is kept as "
        "history, marked superseded); without it such a guide is 409 price_guide_exists",
    )


class VacationIn(Strict):
    name: str = Field(min_length=1, max_length=40)
    start: Day
    end: Day

    @model_validator(mode="after")
    def _order(self) -> VacationIn:
        if self.end < self.start:
            raise ValueError("a vacation ends before it starts")
        return self


class SchoolCalendarIn(Strict):
    region_code: RegionCode
    year: WholeNumber = Field(ge=2000, le=2100)
    vacations: list[VacationIn] = Field(max_length=10)


class RefundDecisionIn(Strict):
    decision: Literal["approve", "deny"]
    reason: str = Field(min_length=1, max_length=2000)


class ConsumptionDecisionIn(Strict):
    decision: Literal["uphold", "reverse"]
    reason: str = Field(min_length=1, max_length=2000)


class AsOfIn(Strict):
    """`as_of`: judge as if the clock read this instant (default now; never later than now
    beyond a small clock skew, nor further back than the re-run bound)."""

    as_of: Instant | None = None


class MatchIn(Strict):
    enrollment_id: str = Field(min_length=1, max_length=40)


class RegionSettingIn(Strict):
    region_code: RegionCode
    # The settings there are, listed in the document; the value's type and range are the
    # key's own (422 `validation_error` naming `body.value`), which no schema here states.
    key: str = Field(
        min_length=1, max_length=64, json_schema_extra={"enum": list[JsonValue](sorted(KEYS))}
    )
    value: (
        StrictInt
        | StrictBool
        | Annotated[StrictStr, Field(max_length=32)]
        | dict[str, dict[str, Any]]
    )
    effective_from: Day | None = Field(default=None, description="default: today (Beijing)")
    reason: str | None = Field(default=None, max_length=2000)


# Responses


class BankRead(Read):
    id: str
    name: str
    code: str


class InstitutionRead(Read):
    id: str
    name: str
    credit_code: str
    region_code: str
    category: str
    supervision_mode: str
    bank_id: str
    escrow_account_no: str
    operating_account_no: str | None
    reserve_account_no: str | None
    status: str
    closing_on: DayOut | None = Field(description="the day a planned closure takes effect")
    risk: RiskRead
    balances: SupervisedBalancesRead
    created_at: InstantOut

    @classmethod
    def of(
        cls, inst: Institution, latest: RiskEvaluation | None, balances: InstitutionBalances
    ) -> InstitutionRead:
        return cls(
            **_registry_fields(inst),
            risk=RiskRead.of(latest),
            balances=supervised_balances(balances, reserve_mode=inst.supervision_mode == "reserve"),
        )


def _registry_fields(inst: Institution) -> dict[str, Any]:
    names = ("id", "name", "credit_code", "region_code", "category", "supervision_mode",
             "bank_id", "escrow_account_no", "operating_account_no", "reserve_account_no",
             "status", "closing_on", "created_at")  # fmt: skip
    return {n: getattr(inst, n) for n in names}


class InstitutionDetailRead(InstitutionRead):
    risk: RiskDetailRead

    @classmethod
    def detail(
        cls, inst: Institution, latest: RiskEvaluation | None, balances: InstitutionBalances
    ) -> InstitutionDetailRead:
        return cls(
            **_registry_fields(inst),
            risk=RiskDetailRead.detail(latest),
            balances=supervised_balances(balances, reserve_mode=inst.supervision_mode == "reserve"),
        )


class RegisteredRead(InstitutionRead):
    """The institution registered, with its API key: shown this once."""

    api_key: str


class GuideItemRead(Read):
    mode: str
    grade_band: str
    class_size_min: int
    class_size_max: int | None
    standard_minutes: int
    base_price: MoneyOut
    max_float_pct: MoneyOut


class PriceGuideRead(Read):
    id: str
    region_code: str
    effective_from: DayOut
    source: str | None
    items: list[GuideItemRead]
    in_force: bool | None = None

    @classmethod
    def of(cls, guide: PriceGuide, items: list[PriceGuideItem], in_force: bool | None = None
           ) -> PriceGuideRead:  # fmt: skip
        return cls(
            id=guide.id,
            region_code=guide.region_code,
            effective_from=guide.effective_from,
            source=guide.source,
            items=[GuideItemRead.model_validate(i, from_attributes=True) for i in items],
            in_force=in_force,
        )


class VacationRead(Read):
    name: str
    start: DayOut
    end: DayOut

    @classmethod
    def of(cls, v: SchoolVacation) -> VacationRead:
        return cls(name=v.name, start=v.start_date, end=v.end_date)


class SchoolCalendarRead(Read):
    region_code: str
    year: int
    vacations: list[VacationRead]


class StatementRead(Read):
    id: str
    institution_id: str
    account_no: str
    statement_date: str = Field(description="the bank's day, YYYY-MM-DD (Beijing)")
    status: str
    closing_balance: MoneyOut
    ledger_balance: MoneyOut
    breaks: list[BreakRead]

    @classmethod
    def of(cls, r: Reconciled) -> StatementRead:
        s = r.statement
        return cls(
            id=s.id,
            institution_id=s.institution_id,
            account_no=s.account_no,
            statement_date=s.statement_date,
            status=s.status,
            closing_balance=s.closing_balance,
            ledger_balance=s.ledger_balance,
            breaks=[BreakRead.of(b) for b in r.breaks],
        )


class JobRunRead(Read):
    """`{job, as_of, …}`: the job's own figures beside its name and instant."""

    model_config = ConfigDict(frozen=True, extra="allow")
    job: str
    as_of: str


class LevelsRead(Read):
    low: int
    medium: int
    high: int
    critical: int


class SweepRead(Read):
    as_of: str
    institutions_evaluated: int
    alerts_opened: int
    institutions_frozen: int
    levels: LevelsRead


class TrialBalanceRead(Read):
    total_debits: MoneyOut
    total_credits: MoneyOut
    pending_debits: MoneyOut
    pending_credits: MoneyOut
    balanced: bool


class LedgerProblemRead(Read):
    kind: str
    subject: str
    detail: str


class VerifyRead(Read):
    ok: bool
    entries_checked: int
    accounts_checked: int
    first_bad_entry: str | None
    problems: list[LedgerProblemRead]


class RegionSettingRead(Read):
    region_code: str
    key: str
    value: Any
    effective_from: DayOut
    reason: str | None = None


class AssignIn(Strict):
    assignee_id: str = Field(min_length=1, max_length=40)


class SnoozeIn(Strict):
    until: Instant
    reason: str = Field(min_length=1, max_length=2000)


class EscalateIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class CloseIn(Strict):
    outcome: Literal["no_risk_found", "rectified", "handled", "referred"]
    note: str = Field(min_length=1, max_length=2000)


class AuditEventRead(Read):
    id: str
    at: InstantOut
    actor: str
    action: str
    subject: str
    institution_id: str | None
    region_code: str | None
    officer_id: str | None = None  # the person who acted for the office, where one signed in
    detail: dict[str, Any]


class EvaluationRead(Read):
    as_of: InstantOut
    score: int
    level: str
    indicators: list[IndicatorRead]
