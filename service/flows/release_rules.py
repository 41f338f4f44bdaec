"""Which of an institution's due lessons a release may pay, under its region's pack
(docs/rules.md): the release cadence (per lesson; weekly on a weekday, as in Xiamen; the whole
order some working days after its last lesson, as in Wuhu), complaints holding release, the
minimum balance the supervised account keeps (Zigong: 20% of what is owed) and the monthly
payout cap (Rongcheng: twice the minimum balance). Pure: `release_batch` reads the facts, only
for the institutions whose pack asks for them, and this decides."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from service.kit.clock import local_date
from service.policy.rules import RulePackValues

ZERO = Decimal("0.00")


@dataclass(frozen=True, kw_only=True)
class Due:
    """A lesson past its confirmation window, not yet released."""

    id: str
    enrollment_id: str
    amount: Decimal
    reported_at: datetime


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the rules beyond the per-lesson cadence read of one institution."""

    # Enrollments with an open complaint; None in it: a complaint naming no enrollment.
    complained: Collection[str | None] = ()
    # Enrollments whose every lesson is consumed or refunded (the order is over).
    finished: Collection[str] = ()
    escrow: Decimal = ZERO  # what the ledger says the supervised account holds for parents
    owed: Decimal = ZERO  # prepaid on the enrollments still running
    released_this_month: Decimal = ZERO  # instructed this Beijing month, not rejected


def needs_facts(pack: RulePackValues) -> bool:
    """Whether deciding needs more than the due lessons (most packs: no)."""
    return (
        pack.release_cadence.mode == "after_last_lesson"
        or pack.complaint_holds_release.enabled
        or pack.minimum_balance.share_of_owed > 0
        or pack.payout_cap is not None
    )


def releasable(
    pack: RulePackValues,
    due: Sequence[Due],
    facts: Facts,
    *,
    as_of: datetime,
    order_end: Callable[[datetime, int], datetime],
) -> list[Due]:
    """The due lessons a release at `as_of` may pay, oldest first. `order_end(last, n)`: the
    instant `n` working days after `last` (service.fees.working_days)."""
    cadence = pack.release_cadence
    if cadence.mode == "weekly" and local_date(as_of).isoweekday() != cadence.weekday:
        return []
    chosen = list(due)
    if pack.complaint_holds_release.enabled and facts.complained:
        if None in facts.complained:
            return []
        chosen = [d for d in chosen if d.enrollment_id not in facts.complained]
    if cadence.mode == "after_last_lesson":
        last: dict[str, datetime] = {}
        for d in chosen:
            last[d.enrollment_id] = max(last.get(d.enrollment_id, d.reported_at), d.reported_at)
        n = cadence.working_days_after or 0
        ready = {e for e, at in last.items() if e in facts.finished and order_end(at, n) <= as_of}
        chosen = [d for d in chosen if d.enrollment_id in ready]
    return _within(chosen, _allowance(pack, facts))


def _allowance(pack: RulePackValues, facts: Facts) -> Decimal | None:
    """The most a release may pay now (None: no bound)."""
    minimum = (pack.minimum_balance.share_of_owed * facts.owed).quantize(Decimal("0.01"))
    bounds: list[Decimal] = []
    if pack.minimum_balance.share_of_owed > 0:
        bounds.append(facts.escrow - minimum)
    # A month's payouts at most a multiple of the minimum balance, while parents are owed: an
    # institution whose every order is over owes nothing, and its earnings are not held.
    if pack.payout_cap is not None and facts.owed > 0:
        cap = pack.payout_cap.monthly_multiple_of_minimum * minimum
        bounds.append(cap - facts.released_this_month)
    if not bounds:
        return None
    return max(min(bounds), ZERO)


def _within(chosen: list[Due], allowance: Decimal | None) -> list[Due]:
    """The oldest lessons whose sum stays within the allowance (a lesson is never split)."""
    if allowance is None:
        return chosen
    out, total = [], ZERO
    for d in sorted(chosen, key=lambda d: (d.reported_at, d.id)):
        if total + d.amount > allowance:
            break
        out.append(d)
        total += d.amount
    return out
