"""Risk indicator knobs (docs/domain.md "Warning signs"), typed: one frozen model per indicator
with every window, threshold and weight it reads and its default, overridable per region by the
`risk_thresholds` policy ({code: {knob: value}}, the most specific region winning) and resolved
into one `RiskConfig` per region. An override is validated against its indicator's model when a
regulator sets it, so a setting that is accepted is one that takes effect (a test per knob holds
every indicator to reading it); a stored override that no longer validates is skipped (and
logged), never allowed to stop a sweep."""

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
    """Refund requests per active enrollment in the window, against the institution's own
    rate before it and its city's median. Answered on time, they weigh `prompt_weight`: a
    class refunded promptly after its teacher left is not a school that stopped paying; in
    an announced closure, nothing. A few contested or late among many (fewer than
    `prompt_share` of the window's requests: the ordinary share of contested answers) leave
    them answered on time: a closing school that contests one request of sixty refunds."""

    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    strong_threshold: Decimal = Field(default=Decimal("6"), ge=0, le=1000)
    min_requests: int = Field(default=3, ge=1, le=100_000)
    weight: int = Field(default=20, ge=0, le=100)
    strong_weight: int = Field(default=30, ge=0, le=100)
    prompt_weight: int = Field(default=10, ge=0, le=100)
    prompt_share: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)
    floor: Level | None = None


class RefundDisputes(Knobs):
    """Refund requests the institution disputed in the window, of those it answered: a school
    that has stopped paying back contests the requests in bulk."""

    window_days: int = Field(default=30, ge=1, le=366)
    min_count: int = Field(default=4, ge=1, le=100_000)
    threshold: Decimal = Field(default=Decimal("0.6"), ge=0, le=1)  # share disputed
    strong_count: int = Field(default=8, ge=1, le=100_000)
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "medium"
    strong_floor: Level | None = "high"


class LessonDisputes(Knobs):
    """Lessons parents disputed in the window, of the lessons reported in it (at least
    `min_lessons`, so a quiet month's few disputes are not a rate): lessons billed that were
    not held. The strong form is judged on the window's share and on the last `recent_days`'
    alone (disputed in waves, week after week: the weeks since teaching stopped)."""

    window_days: int = Field(default=30, ge=1, le=366)
    recent_days: int = Field(default=14, ge=1, le=366)
    min_count: int = Field(default=3, ge=1, le=100_000)
    min_lessons: int = Field(default=30, ge=1, le=100_000)
    threshold: Decimal = Field(default=Decimal("0.1"), ge=0, le=1)  # share of lessons
    strong_threshold: Decimal = Field(default=Decimal("0.3"), ge=0, le=1)
    strong_count: int = Field(default=6, ge=1, le=100_000)
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "medium"
    strong_floor: Level | None = "high"


class PrepaySurge(Knobs):
    """Deposits in the window against the trailing baseline (as much of `baseline_days` as
    the history holds), judged only with enough history (`min_history_days`: the window and a
    month), against the same weeks a year before where history allows, and
    over the median surge of the city's peers of the same category (at least `min_peers`),
    so a term start everyone shares is no surge. A surge alone is a question, not an answer:
    it has no floor; money collected far ahead of the sessions it pays for (`ahead_days`)
    adds `ahead_weight`."""

    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    min_history_days: int = Field(default=45, ge=1, le=1000)
    min_peers: int = Field(default=5, ge=1, le=100_000)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    high_threshold: Decimal = Field(default=Decimal("5"), ge=0, le=1000)
    min_amount: Decimal = Field(default=Decimal("20000"), ge=0, le=Decimal("1e13"))
    ahead_days: int = Field(default=45, ge=1, le=366)
    ahead_share: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    weight: int = Field(default=20, ge=0, le=100)
    high_weight: int = Field(default=30, ge=0, le=100)
    ahead_weight: int = Field(default=10, ge=0, le=100)
    floor: Level | None = None
    high_floor: Level | None = None


class DeepDiscount(Knobs):
    window_days: int = Field(default=30, ge=1, le=366)
    # Paid below this share of the filed price counts as a deep discount.
    price_share: Decimal = Field(default=Decimal("0.7"), gt=0, le=1)
    threshold: Decimal = Field(default=Decimal("0.3"), ge=0, le=1)
    min_enrollments: int = Field(default=5, ge=1, le=100_000)
    # Alone: medium. With a surge of prepayments (a hoarding promotion): high.
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "medium"


class OffPlatform(Knobs):
    """Cash unmatched for `suspense_days` (one unit each: a parent's typo looks the same) and
    parents' complaints of being asked to pay off the platform (`complaint_units` each)."""

    suspense_days: int = Field(default=7, ge=1, le=366)
    window_days: int = Field(default=30, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)  # units
    complaint_units: int = Field(default=2, ge=1, le=100)
    high_units: int = Field(default=4, ge=1, le=100_000)
    # A parent's word (2 units) while new money runs at half its peers' pace or under (the
    # measure of `renewal_decline`, the season included): it goes where the parent was asked.
    falling_units: int = Field(default=2, ge=1, le=100_000)
    falling_pace: Decimal = Field(default=Decimal("0.5"), ge=0, le=10)
    weight: int = Field(default=25, ge=0, le=100)
    floor: Level | None = None
    high_floor: Level | None = "high"
    falling_floor: Level | None = "high"


class ConsumptionPace(Knobs):
    """Enrollments with lessons reported ahead of the filed timetable: one is a make-up lesson
    as often as not; many at once is billing for lessons not yet held."""

    window_days: int = Field(default=30, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)
    high_count: int = Field(default=3, ge=1, le=100_000)
    weight: int = Field(default=15, ge=0, le=100)
    high_weight: int = Field(default=35, ge=0, le=100)
    floor: Level | None = None
    high_floor: Level | None = "high"


class ConsumptionStall(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)  # with no lesson reported
    min_sessions: int = Field(default=3, ge=1, le=100_000)
    min_days: int = Field(default=7, ge=1, le=366)
    weight: int = Field(default=20, ge=0, le=100)
    floor: Level | None = "medium"


class ComplaintSurge(Knobs):
    window_days: int = Field(default=14, ge=1, le=366)
    baseline_days: int = Field(default=90, ge=1, le=366)
    threshold: Decimal = Field(default=Decimal("3"), ge=0, le=1000)
    min_count: int = Field(default=3, ge=1, le=100_000)
    strong_count: int = Field(default=8, ge=1, le=100_000)
    weight: int = Field(default=20, ge=0, le=100)
    strong_weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = None


class StatementMissing(Knobs):
    """Working days (the holiday calendar's) since the bank's last statement of the escrow
    account, today's not yet due: a bank that reports on working days only is never silent
    over a weekend. The weight grows by `step_weight` a working day past the threshold, to
    `max_weight`; silence of `high_days` is a floor of its own. A bank silent since the same
    bank day on `systemic_schools` accounts or more of those swept is a systemic event (one
    notice in the sweep's `systemic_events`): its silence weighs nothing at each school."""

    threshold: int = Field(default=3, ge=1, le=366)  # working days without a statement
    high_days: int = Field(default=10, ge=1, le=366)
    systemic_schools: int = Field(default=5, ge=2, le=1_000_000)
    weight: int = Field(default=10, ge=0, le=100)
    step_weight: int = Field(default=3, ge=0, le=100)
    max_weight: int = Field(default=40, ge=0, le=100)
    floor: Level | None = None
    high_floor: Level | None = "high"


class ReserveShortfall(Knobs):
    threshold: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e13"))
    weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = "high"


class RegistryChange(Knobs):
    """Changes of legal person (`legal_person_units` each) or address (one) in the window,
    adding up: `unit_weight` a unit to `max_weight`, and a floor from `high_units`."""

    window_days: int = Field(default=90, ge=1, le=366)
    threshold: int = Field(default=1, ge=1, le=100_000)  # units
    legal_person_units: int = Field(default=2, ge=1, le=100)
    high_units: int = Field(default=5, ge=1, le=100_000)
    weight: int = Field(default=10, ge=0, le=100)  # a unit
    max_weight: int = Field(default=40, ge=0, le=100)
    floor: Level | None = None
    high_floor: Level | None = "high"


class ClosureDefault(Knobs):
    """Parents still owed more than `threshold` `grace_days` after an announced closure took
    effect: the plan was not kept. What refunds the school contested hold, still awaiting
    the regulator's decision, is not counted (a dispute, the money in escrow meanwhile)."""

    grace_days: int = Field(default=15, ge=0, le=366)
    threshold: Decimal = Field(default=Decimal("0"), ge=0, le=Decimal("1e13"))
    weight: int = Field(default=40, ge=0, le=100)
    floor: Level | None = "high"


class BankWarning(Knobs):
    """The bank's warning on what leaves the supervised account (the pack's `bank_warnings`:
    Hangzhou's daily and weekly withdrawals, a minimum balance): the thresholds are the pack's,
    the weight and floor these."""

    weight: int = Field(default=20, ge=0, le=100)
    floor: Level | None = "medium"


class ChainSibling(Knobs):
    """A sibling campus (the same sponsor, 举办者) with a hard signal (money gone, a refund the
    bank rejected, refunds left unanswered, a reserve short, a closure whose refunds did not
    follow) is evidence here: `weight` alone, `signs_weight` when this campus shows signs of
    its own worth `own_min` or more. An honest closure refunded in full is no hard signal.
    A sibling at `high` or above on its own soft signs (no hard signal: a slow bleed one
    campus ahead) is weaker evidence: `soft_weight` alone, `soft_signs_weight` with signs of
    this campus's own worth `own_min` (a trend of its own and a sibling at `high` on its
    trends: `high`). A sibling outside the sweep counts by its latest evaluation of the last
    30 days."""

    own_min: int = Field(default=10, ge=0, le=100)
    weight: int = Field(default=15, ge=0, le=100)
    signs_weight: int = Field(default=40, ge=0, le=100)
    soft_weight: int = Field(default=10, ge=0, le=100)
    soft_signs_weight: int = Field(default=25, ge=0, le=100)
    floor: Level | None = None


class RefundLatency(Knobs):
    """How long refunds take to be answered, in working days (a holiday is not slowness),
    over the window against the median of its city's peers (at least `min_peers`): slower by
    `threshold` times and by `min_increase` working days, on `min_answers` answers at least.
    Its own past (`baseline_days` before the window) tells a habit from a trend: a school
    whose answers took `habit_share` of today's time or more then was always that slow (a
    slow bleed's past is slowing too, so it is not the yardstick). Refunds answered inside
    the deadline weigh here when they are answered later and later."""

    window_days: int = Field(default=30, ge=1, le=366)
    baseline_days: int = Field(default=60, ge=1, le=366)
    habit_share: Decimal = Field(default=Decimal("0.8"), ge=0, le=1)
    min_answers: int = Field(default=4, ge=1, le=100_000)
    min_peers: int = Field(default=5, ge=1, le=100_000)
    threshold: Decimal = Field(default=Decimal("2"), ge=1, le=1000)
    min_increase: Decimal = Field(default=Decimal("1.5"), ge=0, le=366)
    strong_days: Decimal = Field(default=Decimal("3"), ge=0, le=366)
    weight: int = Field(default=25, ge=0, le=100)
    strong_weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = None


class DisputeTrend(Knobs):
    """The share of refund requests the institution contests, rising: in the window, with
    `min_count` contested and `min_share` at least, `threshold` times `base_share` (the
    ordinary share of contested answers) and not its habit: a school that contested
    `habit_share` of today's share or more in the `baseline_days` before always did. Half of
    the answers contested or more (`strong_share`, five times the ordinary share) at a school
    with a past of its own (on the platform `window_days` + `baseline_days`):
    `strong_weight` (with a second sign of 20, `high`)."""

    window_days: int = Field(default=30, ge=1, le=366)
    baseline_days: int = Field(default=60, ge=1, le=366)
    habit_share: Decimal = Field(default=Decimal("0.8"), ge=0, le=1)
    min_count: int = Field(default=2, ge=1, le=100_000)
    min_share: Decimal = Field(default=Decimal("0.25"), ge=0, le=1)
    base_share: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)
    threshold: Decimal = Field(default=Decimal("2"), ge=1, le=1000)
    weight: int = Field(default=25, ge=0, le=100)
    strong_share: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    strong_weight: int = Field(default=30, ge=0, le=100)
    floor: Level | None = None


class RenewalDecline(Knobs):
    """New money at full price falling (the slow bleed): deposits in the window against the
    `baseline_days` before it, over the same ratio's median among the city's peers of the
    category (at least `min_peers`; a season everyone shares is no decline, and the peers must
    hold `peer_floor` of their own pace). Fires at `threshold` or under, with `min_amount`
    collected in the baseline, and not in a discount drive or an announced wind-down.
    Beside a second trend of the slow bleed (`refund_latency` or `dispute_trend` firing too),
    `trend_weight`: two trends together are `high`."""

    window_days: int = Field(default=28, ge=1, le=183)
    baseline_days: int = Field(default=56, ge=1, le=183)
    min_peers: int = Field(default=5, ge=1, le=100_000)
    min_amount: Decimal = Field(default=Decimal("10000"), ge=0, le=Decimal("1e13"))
    threshold: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    peer_floor: Decimal = Field(default=Decimal("0.6"), ge=0, le=1000)
    weight: int = Field(default=15, ge=0, le=100)
    trend_weight: int = Field(default=25, ge=0, le=100)
    floor: Level | None = None


class YoungSchool(Knobs):
    """A school licensed less than `young_days` ago is judged on what it collects against
    what it delivers, and against its peers: deep discounts (deep_discount's own measure),
    money for sessions far ahead (`ahead_share` of the surge window's money paying for
    sessions over prepay_surge.ahead_days ahead), the longest packages (lessons per
    enrollment in `window_days`, `long_ratio` times the city's median, at least `min_peers`).
    `weight` a sign; `high_units` of them is a floor. The months since the licence are
    always shown (the entry gate a region may write down)."""

    young_days: int = Field(default=183, ge=1, le=3660)
    window_days: int = Field(default=30, ge=1, le=366)
    min_enrollments: int = Field(default=5, ge=1, le=100_000)
    min_peers: int = Field(default=5, ge=1, le=100_000)
    ahead_share: Decimal = Field(default=Decimal("0.3"), ge=0, le=1)
    long_ratio: Decimal = Field(default=Decimal("1.4"), ge=1, le=100)
    weight: int = Field(default=10, ge=0, le=100)  # a sign
    high_units: int = Field(default=3, ge=1, le=100)
    floor: Level | None = None
    high_floor: Level | None = "high"


class DeliveryShare(Knobs):
    """Lessons reported in the window against the sessions scheduled (bought, not refunded)
    in the window `lag_days` earlier (reports follow lessons): under `threshold` weighs
    `weight`, under `strong_threshold` `strong_weight` and a floor. Classes cancelled in
    waves, not stopped. A share is evidence only against a timetable the school has been
    keeping: not judged under `min_sessions` scheduled, nor when the school reported fewer
    than `min_reported` lessons in the `baseline_days` before the window (a school that has
    reported no lessons yet has no delivery to fall from: that is no evidence, and a
    complete stop is `consumption_stall`'s); the strong form needs `strong_min_sessions`
    scheduled. A share under `threshold` that `corroborating` parents or more confirm,
    having complained in the `complaint_days` before that teaching stopped, is the strong
    form too: classes half cancelled and parents saying so. Not judged in an announced
    wind-down, nor when the city's peers (at least
    `min_peers`) deliver under `peer_floor` themselves (a suspension by order is one
    notice, not a hundred cases). Where the district (or, under `min_peers` schools, the
    city) delivers under `normal_share` together, classes resuming after an order or a
    holiday: a school's share is judged against the district's median (what the order left
    possible), and parents' complaints that teaching stopped are the place's, not the
    school's (neither corroborating nor in `complaint_surge`)."""

    window_days: int = Field(default=14, ge=1, le=92)
    lag_days: int = Field(default=7, ge=0, le=92)
    min_sessions: int = Field(default=20, ge=1, le=100_000)
    strong_min_sessions: int = Field(default=40, ge=1, le=100_000)
    baseline_days: int = Field(default=28, ge=1, le=92)
    min_reported: int = Field(default=20, ge=1, le=100_000)
    corroborating: int = Field(default=2, ge=1, le=100_000)
    complaint_days: int = Field(default=30, ge=1, le=366)
    min_peers: int = Field(default=5, ge=1, le=100_000)
    threshold: Decimal = Field(default=Decimal("0.6"), ge=0, le=1)
    strong_threshold: Decimal = Field(default=Decimal("0.35"), ge=0, le=1)
    peer_floor: Decimal = Field(default=Decimal("0.6"), ge=0, le=10)
    normal_share: Decimal = Field(default=Decimal("0.9"), ge=0, le=10)
    weight: int = Field(default=20, ge=0, le=100)
    strong_weight: int = Field(default=35, ge=0, le=100)
    floor: Level | None = None
    strong_floor: Level | None = "high"


MODELS: dict[str, type[Knobs]] = {
    "refund_failed": RefundFailed,
    "escrow_shortfall": EscrowShortfall,
    "refund_overdue": RefundOverdue,
    "refund_velocity": RefundVelocity,
    "refund_disputes": RefundDisputes,
    "lesson_disputes": LessonDisputes,
    "prepay_surge": PrepaySurge,
    "deep_discount": DeepDiscount,
    "off_platform": OffPlatform,
    "consumption_pace": ConsumptionPace,
    "consumption_stall": ConsumptionStall,
    "complaint_surge": ComplaintSurge,
    "statement_missing": StatementMissing,
    "reserve_shortfall": ReserveShortfall,
    "registry_change": RegistryChange,
    "closure_default": ClosureDefault,
    "bank_warning": BankWarning,
    "chain_sibling": ChainSibling,
    "refund_latency": RefundLatency,
    "dispute_trend": DisputeTrend,
    "renewal_decline": RenewalDecline,
    "young_school": YoungSchool,
    "delivery_share": DeliveryShare,
}
DEFAULTS: dict[str, Knobs] = {code: model() for code, model in MODELS.items()}


# The span of the refund requests per active enrollment whose median over a city is the peers'
# rate that refund velocity compares with.
PEER_REFUND_WINDOW_DAYS = 14


class RiskConfig(BaseModel):
    """Every indicator's knobs for one region: what its sweep reads, whole."""

    model_config = ConfigDict(frozen=True)
    refund_failed: RefundFailed = RefundFailed()
    escrow_shortfall: EscrowShortfall = EscrowShortfall()
    refund_overdue: RefundOverdue = RefundOverdue()
    refund_velocity: RefundVelocity = RefundVelocity()
    refund_disputes: RefundDisputes = RefundDisputes()
    lesson_disputes: LessonDisputes = LessonDisputes()
    prepay_surge: PrepaySurge = PrepaySurge()
    deep_discount: DeepDiscount = DeepDiscount()
    off_platform: OffPlatform = OffPlatform()
    consumption_pace: ConsumptionPace = ConsumptionPace()
    consumption_stall: ConsumptionStall = ConsumptionStall()
    complaint_surge: ComplaintSurge = ComplaintSurge()
    statement_missing: StatementMissing = StatementMissing()
    reserve_shortfall: ReserveShortfall = ReserveShortfall()
    registry_change: RegistryChange = RegistryChange()
    closure_default: ClosureDefault = ClosureDefault()
    bank_warning: BankWarning = BankWarning()
    chain_sibling: ChainSibling = ChainSibling()
    refund_latency: RefundLatency = RefundLatency()
    dispute_trend: DisputeTrend = DisputeTrend()
    renewal_decline: RenewalDecline = RenewalDecline()
    young_school: YoungSchool = YoungSchool()
    delivery_share: DeliveryShare = DeliveryShare()

    def lookback_days(self) -> int:
        """The longest span of history any indicator reads back from as_of."""
        windows = [
            self.refund_velocity.window_days + self.refund_velocity.baseline_days,
            self.prepay_surge.window_days + self.prepay_surge.baseline_days,
            self.complaint_surge.window_days + self.complaint_surge.baseline_days,
            self.refund_latency.window_days + self.refund_latency.baseline_days,
            self.dispute_trend.window_days + self.dispute_trend.baseline_days,
            self.renewal_decline.window_days + self.renewal_decline.baseline_days,
            self.delivery_share.window_days
            + max(self.delivery_share.lag_days, self.delivery_share.baseline_days),
            self.delivery_share.complaint_days,
        ]
        for code in MODELS:
            windows.append(getattr(getattr(self, code), "window_days", 0))
        return max(windows) + 1

    def counter_windows(self) -> set[tuple[str, int, int]]:
        """The sums of daily counters the indicators read: (counter, days, offset), each over
        `days` days ending `offset` days before the sweep's day. A sweep has the database sum
        these, so what it reads per institution does not grow with the lookback."""
        rv, ps, rd = self.refund_velocity, self.prepay_surge, self.renewal_decline
        ds = self.delivery_share
        return {
            ("refund_requests", rv.window_days, 0),
            ("refund_requests", rv.baseline_days, rv.window_days),
            ("refund_requests", PEER_REFUND_WINDOW_DAYS, 0),
            ("lessons_consumed", self.lesson_disputes.window_days, 0),
            ("lessons_consumed", self.lesson_disputes.recent_days, 0),
            ("lessons_consumed", self.consumption_stall.window_days, 0),
            ("deposits_amount", ps.window_days, 0),
            ("deposits_amount", ps.baseline_days, ps.window_days),
            ("enrollments_paid", self.deep_discount.window_days, 0),
            ("deposits_amount", rd.window_days, 0),
            ("deposits_amount", rd.baseline_days, rd.window_days),
            ("lessons_consumed", ds.window_days, 0),
            ("lessons_consumed", ds.baseline_days, ds.window_days),
            ("enrollments_paid", self.young_school.window_days, 0),
        }


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
