"""Risk indicator knobs (DOMAIN.md §5), typed: one frozen model per indicator with every window,
threshold and weight it reads and its default, overridable per region by the
`risk_thresholds` policy ({code: {knob: value}}, the most specific region winning) and resolved
into one `RiskConfig` per region. An override is validated against its indicator's model when a
regulator sets it, so a setting that is accepted is one that takes effect (a test per knob
holds every indicator to reading it); a stored override that no longer validates is skipped
(and logged), never allowed to stop a sweep."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("tuitionguard.risk")

Level = Literal["low", "medium", "high", "critical"]


class Knobs(BaseModel):
    """What every indicator has: its weight in the score and the level it floors to."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    weight: int = Field(default=0, ge=0, le=100)
    floor: Level | None = None


class RefundFailed(Knobs):
    window_days: int = Field(default=90, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    weight: int = Field(default=40, ge=0, le=100)
    floor: Level | None = "critical"


class EscrowShortfall(Knobs):
    window_days: int = Field(default=90, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    weight: int = Field(default=50, ge=0, le=100)
    floor: Level | None = "critical"


class RefundOverdue(Knobs):
    window_days: int = Field(default=90, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    high_count: int = Field(default=3, ge=1, le=100_000)
    weight: int = Field(default=15, ge=0, le=100)
    floor: Level | None = "medium"
    high_floor: Level | None = "high"


class RefundVelocity(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    min_requests: int = Field(default=3, ge=1, le=100_000)
    weight: int = Field(default=20, ge=0, le=100)
    floor: Level | None = "medium"


class PrepaySurge(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    high_threshold: Decimal = Field(default=Decimal("5"), ge=0, le=1000)
    min_amount: Decimal = Field(default=Decimal("20000"), ge=0, le=Decimal("1e13"))
    weight: int = Field(default=20, ge=0, le=100)
    high_weight: int = Field(default=35, ge=0, le=100)
    floor: Level | None = "medium"
    high_floor: Level | None = "high"


class DeepDiscount(Knobs):
    window_days: int = Field(default=30, ge=1, le=366)
    # Paid below this share of the filed price counts as a deep discount.
    price_share: Decimal = Field(default=Decimal("0.7"), gt=0, le=1)
    threshold: Decimal = Field(default=Decimal("0.3"), ge=0, le=1)
    min_enrollments: int = Field(default=5, ge=1, le=100_000)
    weight: int = Field(default=15, ge=0, le=100)
    floor: Level | None = "medium"


class OffPlatform(Knobs):
    # Suspense cash unmatched this many days counts.
    suspense_days: int = Field(default=7, ge=1, le=366)
    window_days: int = Field(default=30, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "high"


class ConsumptionPace(Knobs):
    window_days: int = Field(default=30, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "high"


class ConsumptionStall(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)  # with no lesson reported
    min_sessions: int = Field(default=3, ge=1, le=100_000)
    min_days: int = Field(default=7, ge=1, le=366)
    weight: int = Field(default=15, ge=0, le=100)
    floor: Level | None = "medium"


class ComplaintSurge(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    min_count: int = Field(default=3, ge=1, le=100_000)
    weight: int = Field(default=20, ge=0, le=100)
    floor: Level | None = "medium"


class StatementMissing(Knobs):
    threshold: int = Field(default=3, ge=1, le=366)  # days without a statement
    weight: int = Field(default=10, ge=0, le=100)
    floor: Level | None = "medium"


class ReserveShortfall(Knobs):
    threshold: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e13"))
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "high"


class RegistryChange(Knobs):
    window_days: int = Field(default=90, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    weight: int = Field(default=10, ge=0, le=100)
    floor: Level | None = None


MODELS: dict[str, type[Knobs]] = {
    "refund_failed": RefundFailed,
    "escrow_shortfall": EscrowShortfall,
    "refund_overdue": RefundOverdue,
    "refund_velocity": RefundVelocity,
    "prepay_surge": PrepaySurge,
    "deep_discount": DeepDiscount,
    "off_platform": OffPlatform,
    "consumption_pace": ConsumptionPace,
    "consumption_stall": ConsumptionStall,
    "complaint_surge": ComplaintSurge,
    "statement_missing": StatementMissing,
    "reserve_shortfall": ReserveShortfall,
    "registry_change": RegistryChange,
}
DEFAULTS: dict[str, Knobs] = {code: model() for code, model in MODELS.items()}


class RiskConfig(BaseModel):
    """Every indicator's knobs for one region: what its sweep reads, whole."""

    model_config = ConfigDict(frozen=True)
    refund_failed: RefundFailed = RefundFailed()
    escrow_shortfall: EscrowShortfall = EscrowShortfall()
    refund_overdue: RefundOverdue = RefundOverdue()
    refund_velocity: RefundVelocity = RefundVelocity()
    prepay_surge: PrepaySurge = PrepaySurge()
    deep_discount: DeepDiscount = DeepDiscount()
    off_platform: OffPlatform = OffPlatform()
    consumption_pace: ConsumptionPace = ConsumptionPace()
    consumption_stall: ConsumptionStall = ConsumptionStall()
    complaint_surge: ComplaintSurge = ComplaintSurge()
    statement_missing: StatementMissing = StatementMissing()
    reserve_shortfall: ReserveShortfall = ReserveShortfall()
    registry_change: RegistryChange = RegistryChange()

    def lookback_days(self) -> int:
        """The longest span of history any indicator reads back from as_of."""
        windows = [
            self.refund_velocity.window_days + self.refund_velocity.baseline_days,
            self.prepay_surge.window_days + self.prepay_surge.baseline_days,
            self.complaint_surge.window_days + self.complaint_surge.baseline_days,
        ]
        for code in MODELS:
            windows.append(getattr(getattr(self, code), "window_days", 0))
        return max(windows) + 1


class InvalidOverride(ValueError):
    """An override that names no indicator or knob, or a value its knob refuses."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


def validate_overrides(overrides: Any) -> dict[str, dict[str, Any]]:
    """The overrides as they will take effect (JSON-ready), or InvalidOverride naming each bad
    field as `<code>.<knob>`."""
    if not isinstance(overrides, dict):
        raise InvalidOverride([{"field": "", "message": "must be an object of indicators"}])
    errors: list[dict[str, str]] = []
    out: dict[str, dict[str, Any]] = {}
    for code, fields in overrides.items():
        model = MODELS.get(code)
        if model is None:
            errors.append({"field": str(code), "message": f"no indicator {code!r}"})
            continue
        if not isinstance(fields, dict):
            errors.append({"field": str(code), "message": "must be an object of knobs"})
            continue
        try:
            checked = model.model_validate({**DEFAULTS[code].model_dump(), **fields})
        except ValidationError as exc:
            for e in exc.errors():
                where = ".".join(str(p) for p in e["loc"])
                errors.append({"field": f"{code}.{where}", "message": e["msg"]})
            continue
        out[code] = checked.model_dump(mode="json", include=set(fields))
    if errors:
        raise InvalidOverride(errors)
    return out


def merged(overrides: Mapping[str, Any] | None) -> RiskConfig:
    """Every indicator's knobs with a region's overrides applied. An override that does not
    validate (stored before validation, or by hand) is skipped and logged."""
    knobs: dict[str, Knobs] = {}
    for code, fields in (overrides or {}).items():
        try:
            knobs[code] = MODELS[code].model_validate({**DEFAULTS[code].model_dump(), **fields})
        except (KeyError, TypeError, ValidationError) as exc:
            log.warning("risk override %s ignored: %s", code, exc)
    return RiskConfig.model_validate(knobs)
