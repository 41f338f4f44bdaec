"""The rules of a rule pack (docs/rules.md), typed.

Every rule is a frozen model with bounds: a value accepted here is one the domain can obey, so
a pack that is stored is never refused or ignored later. A pack *defines* some rules (each with
its source); a *resolved* pack (`RulePack`) has every rule, each traced to the region, version
and day that defined it. The defaults below are the service's own where no text sets a value
(docs/rules.md); the seeded national pack (`service.policy.seeds`) cites the texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from service.policy import knobs

# The sectors a pack is defined for; `all` is the layer of a region that every sector of it
# inherits (and the only one region-wide rules, read without a sector, may be set in).
SECTORS = ("education_subject", "education_non_subject", "fitness")
ALL = "all"
Sector = Literal["education_subject", "education_non_subject", "fitness"]
# The root of the region tree: the national pack (not a GB/T 2260 code; no regulator's scope).
NATIONAL = "000000"
# The actions that may wait for a second officer (docs/security.md, four eyes).
FOUR_EYES_ACTIONS = (
    "unfreeze",
    "rule_pack_change",
    "price_guide_publish",
    "wind_down_open",
    "wind_down_round",
    "successor_offer",
)
# The lists a regulator keeps that an entry gate may refuse on (service.policy.credit_lists).
CREDIT_LISTS = ("dishonest_debtors", "abnormal_operations")
WARNING_FROM = ("medium", "high", "critical", "never")

Yuan = Annotated[Decimal, Field(ge=0, le=Decimal("1e9"), max_digits=14, decimal_places=2)]
Share = Annotated[Decimal, Field(ge=0, le=1, max_digits=6, decimal_places=4)]


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Rule):
    """Where a rule comes from. `note` says what was not verified (a number, an article)."""

    title: str = Field(min_length=1, max_length=300)
    number: str | None = Field(default=None, max_length=120)
    issuer: str = Field(min_length=1, max_length=200)
    article: str | None = Field(default=None, max_length=120)
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    note: str | None = Field(default=None, max_length=300)


class Span(Rule):
    """A count of working days (the State Council's arrangement) or of calendar days."""

    working_days: int | None = Field(default=None, ge=0, le=90)
    days: int | None = Field(default=None, ge=0, le=90)

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.working_days is None) == (self.days is None):
            raise ValueError("give exactly one of working_days and days")
        return self


class ConfirmationWindow(Span):
    """A lesson is released after it, unless disputed in it."""


class RefundAnswerDeadline(Span):
    """The institution's time to answer a refund; silence is consent."""


class RefundPaymentDeadline(Rule):
    working_days: int = Field(ge=1, le=90)


class ReleaseCadence(Rule):
    mode: Literal["per_lesson", "weekly", "after_last_lesson"]
    weekday: int | None = Field(default=None, ge=1, le=7)  # ISO: 1 Monday … 7 Sunday
    working_days_after: int | None = Field(default=None, ge=0, le=90)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.mode == "weekly") != (self.weekday is not None):
            raise ValueError("weekday is given for the weekly mode, and only for it")
        if (self.mode == "after_last_lesson") != (self.working_days_after is not None):
            raise ValueError("working_days_after is given for after_last_lesson, and only then")
        return self


class Enabled(Rule):
    enabled: bool


class PrepayCaps(Rule):
    """One collection: at most `lessons` lessons (sessions), spanning at most `months`, of at
    most `amount` yuan; at most `per_consumer` yuan held prepaid by one consumer at one
    institution over all their orders (not yet consumed or refunded; docs/rules.md)."""

    lessons: int = Field(ge=1, le=1000)
    months: int = Field(ge=1, le=60)
    amount: Yuan | None = None
    per_consumer: Yuan | None = None


class CardCaps(Rule):
    """Prepaid cards by kind (the fitness texts): a membership by time, a card of sessions, a
    stored value."""

    membership_amount: Yuan
    membership_months: int = Field(ge=1, le=60)
    sessions_amount: Yuan
    sessions: int = Field(ge=1, le=1000)
    stored_value_amount: Yuan


class UnpaidOrderExpiry(Span):
    """How long an order stands unpaid under a pack that caps what one consumer holds
    (`prepay_caps.per_consumer`): past it the order holds no room, a payment for it is not
    taken (suspense), and the `unpaid_order_expiry` job cancels it. No text found sets it: the
    service's own rule (docs/rules.md)."""

    working_days: int | None = Field(default=None, ge=1, le=30)
    days: int | None = Field(default=None, ge=1, le=30)


class EarliestCollection(Rule):
    months_before_start: int = Field(ge=0, le=12)


class MinimumBalance(Rule):
    """Releases never take the escrow account below this share of what is owed to parents."""

    share_of_owed: Share


class PayoutCap(Rule):
    monthly_multiple_of_minimum: Decimal = Field(gt=0, le=100, max_digits=6, decimal_places=2)


class ReserveRequirement(Rule):
    share_of_owed: Share


class EntryGate(Rule):
    months_after_licence: int = Field(ge=0, le=120)
    credit_lists: tuple[Literal["dishonest_debtors", "abnormal_operations"], ...] = ()


class BankWarnings(Rule):
    daily_withdrawals: Yuan | None = None
    weekly_withdrawals: Yuan | None = None
    minimum_balance: Yuan | None = None


class WindDown(Rule):
    interest_rate_annual: Decimal | None = Field(
        default=None, ge=0, le=Decimal("0.24"), max_digits=6, decimal_places=4
    )


class SnoozeMax(Rule):
    days: int = Field(ge=0, le=90)


class WarningFrom(Rule):
    level: Literal["medium", "high", "critical", "never"]


def _risk_overrides(value: Any) -> dict[str, dict[str, Any]]:
    try:
        return knobs.validate_overrides(value)
    except knobs.InvalidOverride as exc:
        raise ValueError(str(exc)) from exc


FourEyes = tuple[
    Literal[
        "unfreeze",
        "rule_pack_change",
        "price_guide_publish",
        "wind_down_open",
        "wind_down_round",
        "successor_offer",
    ],
    ...,
]
RiskThresholds = Annotated[dict[str, dict[str, Any]], BeforeValidator(_risk_overrides)]


class RulePackValues(BaseModel):
    """Every rule's value (the national defaults where nothing else is said): what a use case
    is handed, resolved for a region, sector and day."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    confirmation_window: ConfirmationWindow = ConfirmationWindow(days=7)
    refund_answer_deadline: RefundAnswerDeadline = RefundAnswerDeadline(days=5)
    refund_payment_deadline: RefundPaymentDeadline = RefundPaymentDeadline(working_days=5)
    release_cadence: ReleaseCadence = ReleaseCadence(mode="per_lesson")
    complaint_holds_release: Enabled = Enabled(enabled=False)
    prepay_caps: PrepayCaps = PrepayCaps(lessons=60, months=3)
    card_caps: CardCaps | None = None
    unpaid_order_expiry: UnpaidOrderExpiry = UnpaidOrderExpiry(days=7)
    earliest_collection: EarliestCollection = EarliestCollection(months_before_start=1)
    minimum_balance: MinimumBalance = MinimumBalance(share_of_owed=Decimal(0))
    payout_cap: PayoutCap | None = None
    reserve_requirement: ReserveRequirement = ReserveRequirement(share_of_owed=Decimal(1))
    entry_gate: EntryGate = EntryGate(months_after_licence=0)
    bank_warnings: BankWarnings = BankWarnings()
    wind_down: WindDown = WindDown()
    four_eyes: FourEyes = FOUR_EYES_ACTIONS  # type: ignore[assignment]
    risk_thresholds: RiskThresholds = Field(default_factory=dict)
    auto_freeze_on_critical: Enabled = Enabled(enabled=False)
    case_snooze_max: SnoozeMax = SnoozeMax(days=30)
    parent_warning_from: WarningFrom = WarningFrom(level="high")
    parent_warning_score: Enabled = Enabled(enabled=False)


NAMES: tuple[str, ...] = tuple(RulePackValues.model_fields)
# Rules read for a region as a whole, never for one sector (the risk sweep, four-eyes, the
# parents' warning): they may only be defined in a region's `all` layer.
REGION_WIDE = frozenset(
    {
        "four_eyes",
        "risk_thresholds",
        "auto_freeze_on_critical",
        "case_snooze_max",
        "parent_warning_from",
        "parent_warning_score",
    }
)
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(field.rebuild_annotation())
    for name, field in RulePackValues.model_fields.items()
}
DEFAULT_VALUES = RulePackValues()
DEFAULT_SOURCE = Source(
    title="TuitionGuard default (no text found that sets it; docs/rules.md)",
    issuer="TuitionGuard",
)
# Defaults that are the project's own rule rather than a text's, each saying so.
DEFAULT_SOURCES = {
    "unpaid_order_expiry": Source(
        title="TuitionGuard: under a per-consumer cap, an order not paid within 7 days lapses "
        "(docs/rules.md)",
        issuer="TuitionGuard",
        note="The project's own choice, not a text's: no text found sets how long an unpaid "
        "prepaid order holds its room under a per-consumer cap. Seven calendar days cover a "
        "week-long public holiday; a lapsed order holds no room and takes no payment.",
    ),
}


class Cited(Rule):
    """One rule as resolved: its value, its source, and where it was defined."""

    name: str
    value: Any
    source: Source
    region_code: str
    sector: str
    version: int
    effective_from: date | None


class InvalidRule(ValueError):
    """A rule that names no rule, or a value or source its model refuses: the rule and the
    field named (`invalid_rule`)."""

    def __init__(self, rule: str, field: str, message: str) -> None:
        super().__init__(f"{rule}.{field}: {message}" if field else f"{rule}: {message}")
        self.rule, self.field, self.message = rule, field, message


def check_value(name: str, value: Any) -> Any:
    """The value as it takes effect, typed, or InvalidRule naming the field."""
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        raise InvalidRule(name, "", f"no rule {name!r}; known: {', '.join(NAMES)}")
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise InvalidRule(name, f"value.{where}" if where else "value", e["msg"]) from exc


def check_source(name: str, source: Any) -> Source:
    try:
        return Source.model_validate(source)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        raise InvalidRule(name, f"source.{where}" if where else "source", e["msg"]) from exc


def dump_value(name: str, value: Any) -> Any:
    """A typed value as JSON (money and shares as strings)."""
    return _ADAPTERS[name].dump_python(value, mode="json", exclude_none=True)


class Entry(Rule):
    """A rule as a pack defines it."""

    value: Any
    source: Source


Definition = Mapping[str, Entry]


class RulePack(Rule):
    """A resolved pack: every rule's typed value, and for each where it came from. Frozen,
    built once per region, sector and day (service.policy.packs) and handed to use cases."""

    region_code: str
    sector: str
    on: date
    values: RulePackValues
    cited: Mapping[str, Cited]


def root(*, on: date, region_code: str = NATIONAL, sector: str = ALL) -> RulePack:
    """The service's defaults, cited as such: what every region inherits first."""
    cited = {
        name: Cited(
            name=name,
            value=dump_value(name, getattr(DEFAULT_VALUES, name)),
            source=DEFAULT_SOURCES.get(name, DEFAULT_SOURCE),
            region_code=NATIONAL,
            sector=ALL,
            version=0,
            effective_from=None,
        )
        for name in NAMES
    }
    return RulePack(
        region_code=region_code, sector=sector, on=on, values=DEFAULT_VALUES, cited=cited
    )


def apply(
    pack: RulePack,
    definition: Mapping[str, Entry],
    *,
    region_code: str,
    sector: str,
    version: int,
    effective_from: date,
) -> RulePack:
    """`pack` with a region's definition laid over it, rule by rule: a rule the definition
    names replaces the inherited one; the rest stay. Values are checked again, so a stored
    definition that no longer validates is skipped rule by rule, never half applied."""
    values: dict[str, Any] = {}
    cited = dict(pack.cited)
    for name, entry in definition.items():
        try:
            typed = check_value(name, entry.value)
        except InvalidRule:
            continue
        values[name] = typed
        cited[name] = Cited(
            name=name,
            value=dump_value(name, typed),
            source=entry.source,
            region_code=region_code,
            sector=sector,
            version=version,
            effective_from=effective_from,
        )
    return pack.model_copy(update={"values": pack.values.model_copy(update=values), "cited": cited})
