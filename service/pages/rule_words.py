"""A rule pack in words, in the page's language: each rule's name and its value as a sentence
(never the wire's keys), for the workbench's pack page."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from service.pages.labels import LEVELS, N_, WARNING_NEVER

Gettext = Callable[[str], str]

NAMES = {
    "confirmation_window": N_("Window to dispute a lesson"),
    "refund_answer_deadline": N_("Time to answer a refund (silence is consent)"),
    "refund_payment_deadline": N_("Time to pay a refund"),
    "release_cadence": N_("When fees are released"),
    "complaint_holds_release": N_("An open complaint holds release"),
    # Per collection and, where a pack sets it, per consumer over all their orders.
    "prepay_caps": N_("Caps on prepayment"),
    "card_caps": N_("Caps on prepaid cards"),
    "unpaid_order_expiry": N_("An unpaid order lapses after"),
    "earliest_collection": N_("Earliest collection"),
    "minimum_balance": N_("Minimum balance kept"),
    "payout_cap": N_("Monthly payout cap"),
    "reserve_requirement": N_("Risk reserve"),
    "entry_gate": N_("Entry gate"),
    "bank_warnings": N_("Bank's warnings on withdrawals"),
    "wind_down": N_("Interest on wind-down claims"),
    "four_eyes": N_("Actions needing a second officer"),
    "risk_thresholds": N_("Risk thresholds"),
    "auto_freeze_on_critical": N_("Freeze releases when an institution turns critical"),
    "case_snooze_max": N_("Longest a case may be snoozed"),
    "parent_warning_from": N_("Parents are warned from this level"),
    "parent_warning_score": N_("Parents are shown the risk score"),
}
SECTORS = {
    "all": N_("Every sector"),
    "education_subject": N_("Subject training"),
    "education_non_subject": N_("Non-subject training"),
    "fitness": N_("Fitness"),
}
WEEKDAYS = {
    1: N_("Monday"),
    2: N_("Tuesday"),
    3: N_("Wednesday"),
    4: N_("Thursday"),
    5: N_("Friday"),
    6: N_("Saturday"),
    7: N_("Sunday"),
}
ACTIONS = {
    "unfreeze": N_("Unfreezing an institution"),
    "rule_pack_change": N_("Changing a rule pack"),
    "price_guide_publish": N_("Publishing a price guide"),
    "wind_down_open": N_("Opening a wind-down"),
    "wind_down_round": N_("Paying a wind-down round"),
    "successor_offer": N_("Offering a successor"),
}
LISTS = {
    "dishonest_debtors": N_("the list of dishonest debtors"),
    "abnormal_operations": N_("the list of abnormal operations"),
}
NOTHING = N_("None")


def _yuan(v: Any) -> str:
    return f"¥{Decimal(str(v)):,.2f}"


def _pct(v: Any) -> str:
    return f"{(Decimal(str(v)) * 100).normalize():f}%"


def _span(v: dict[str, Any], _: Gettext) -> str:
    if "working_days" in v:
        return _("%(n)s working days") % {"n": v["working_days"]}
    return _("%(n)s calendar days") % {"n": v.get("days", 0)}


def value(name: str, v: Any, _: Gettext) -> str:
    """A rule's value in words."""
    if v is None:
        return _(NOTHING)
    if name in ("confirmation_window", "refund_answer_deadline", "refund_payment_deadline",
                "unpaid_order_expiry"):  # fmt: skip
        return _span(v, _)
    if name == "release_cadence":
        if v["mode"] == "weekly":
            return _("Weekly, on %(day)s") % {"day": _(WEEKDAYS[int(v["weekday"])])}
        if v["mode"] == "after_last_lesson":
            return _("The whole order, %(n)s working days after its last lesson") % {
                "n": v["working_days_after"]
            }
        return _("Lesson by lesson")
    if name in ("complaint_holds_release", "auto_freeze_on_critical", "parent_warning_score"):
        return _("Yes") if v["enabled"] else _("No")
    if name == "prepay_caps":
        parts = [_("at most %(n)s lessons over %(m)s months") % {"n": v["lessons"],
                                                                 "m": v["months"]}]  # fmt: skip
        if v.get("amount") is not None:
            parts.append(_("at most %(a)s a collection") % {"a": _yuan(v["amount"])})
        if v.get("per_consumer") is not None:
            parts.append(
                _("at most %(a)s held by one consumer at the institution")
                % {"a": _yuan(v["per_consumer"])}
            )
        return "; ".join(parts)
    if name == "card_caps":
        return "; ".join(
            [
                _("membership at most %(a)s and %(m)s months")
                % {"a": _yuan(v["membership_amount"]), "m": v["membership_months"]},
                _("sessions at most %(a)s and %(n)s sessions")
                % {"a": _yuan(v["sessions_amount"]), "n": v["sessions"]},
                _("stored value at most %(a)s") % {"a": _yuan(v["stored_value_amount"])},
            ]
        )
    if name == "earliest_collection":
        return _("At most %(n)s months before the first lesson") % {"n": v["months_before_start"]}
    if name in ("minimum_balance", "reserve_requirement"):
        return _("%(p)s of what is owed to parents") % {"p": _pct(v["share_of_owed"])}
    if name == "payout_cap":
        return _("A month's payouts at most %(n)s times the minimum balance") % {
            "n": Decimal(str(v["monthly_multiple_of_minimum"])).normalize()
        }
    if name == "entry_gate":
        if not v["months_after_licence"] and not v.get("credit_lists"):
            return _(NOTHING)
        out = _("No prepaid sales for %(n)s months after the licence") % {
            "n": v["months_after_licence"]
        }
        lists = [_(LISTS[x]) for x in v.get("credit_lists", [])]
        if lists:
            out += "; " + _("nor while on %(lists)s") % {"lists": ", ".join(lists)}
        return out
    if name == "bank_warnings":
        parts = []
        for key, said in (
            ("daily_withdrawals", N_("withdrawals over %(a)s a day")),
            ("weekly_withdrawals", N_("withdrawals over %(a)s a week")),
            ("minimum_balance", N_("a balance below %(a)s")),
        ):
            if v.get(key) is not None:
                parts.append(_(said) % {"a": _yuan(v[key])})
        return "; ".join(parts) or _(NOTHING)
    if name == "wind_down":
        rate = v.get("interest_rate_annual")
        return _(NOTHING) if rate is None else _("%(p)s a year") % {"p": _pct(rate)}
    if name == "four_eyes":
        return ", ".join(_(ACTIONS.get(a, a)) for a in v) or _(NOTHING)
    if name == "risk_thresholds":
        n = sum(len(k) for k in v.values() if isinstance(k, dict))
        return _("The defaults") if not n else _("%(n)s thresholds changed") % {"n": n}
    if name == "case_snooze_max":
        return _("%(n)s calendar days") % {"n": v["days"]}
    if name == "parent_warning_from":
        return _(LEVELS.get(v["level"], WARNING_NEVER))
    return str(v)
