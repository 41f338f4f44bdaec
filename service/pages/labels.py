"""What the pages call the service's codes, marked for extraction (`N_`) so each has its
translation in the catalogue; shown with `label(kind, code)` in the templates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service.registry.regions import known_regions, scope_prefix


def N_(text: str) -> str:
    return text


LEVELS = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    None: N_("Not evaluated"),
}
STATUSES = {
    "active": N_("Active"),
    "frozen": N_("Frozen"),
    "blacklisted": N_("Blacklisted"),
    "closed": N_("Closed"),
    "winding_down": N_("Winding down"),
}
CATEGORIES = {
    "subject": N_("Subject training"),
    "non_subject": N_("Non-subject training"),
    "fitness": N_("Fitness"),
}
MODES = {"custody": N_("Bank custody"), "reserve": N_("Risk reserve")}
CASE_STATUSES = {
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "snoozed": N_("Snoozed"),
    "resolved": N_("Closed"),
}
OUTCOMES = {
    "no_risk_found": N_("No risk found"),
    "rectified": N_("Rectified"),
    "handled": N_("Handled"),
    "referred": N_("Referred for enforcement"),
    None: N_("—"),
}
REFUND_STATUSES = {
    "requested": N_("Requested"),
    "accepted": N_("Accepted"),
    "disputed": N_("Disputed"),
    "instructed": N_("Instructed to the bank"),
    "paid": N_("Paid"),
    "failed": N_("Failed"),
    "denied": N_("Denied"),
}
LESSON_STATUSES = {
    "pending": N_("In its dispute window"),
    "confirmed": N_("Confirmed"),
    "disputed": N_("Disputed"),
    "upheld": N_("Upheld"),
    "reversed": N_("Reversed"),
}
# The parent's words for the same codes.
PARENT_LESSONS = {
    "pending": N_("Used · you can still dispute it"),
    "confirmed": N_("Used"),
    "disputed": N_("Disputed · not paid to the institution"),
    "reversed": N_("Not held · back in your balance"),
}
LISTS = {
    "white": N_("White list: its prepayments are supervised"),
    "black": N_("Black list: do not pay it"),
    "closed": N_("Closed"),
}
NEXT_STEPS = {
    "respond": N_(
        "The institution must accept or dispute it by the date shown; if it does not, the refund is accepted for it."  # noqa: E501
    ),
    "regulator": N_(
        "The institution disputes it: the regulator decides, and you will see the decision here."
    ),
    "bank": N_(
        "The refund is accepted: the custody bank pays it from the supervised account, usually within a working day."  # noqa: E501
    ),
    "failed": N_(
        "The bank could not pay it. Your lessons are back in your balance and the regulator has been alerted; you may ask again or file a complaint below."  # noqa: E501
    ),
    "denied": N_(
        "The regulator denied the refund after the institution disputed it; the lessons are back in your balance. You may file a complaint below."  # noqa: E501
    ),
}
STATEMENT_STATUSES = {"matched": N_("Matched"), "breaks": N_("Breaks"), None: N_("Missing")}
BREAKS = {
    "missing_in_ledger": N_("Not in the ledger"),
    "missing_in_statement": N_("Not on the statement"),
    "amount_differs": N_("Amount differs"),
    "balance_differs": N_("Balance differs"),
}
DIRECTIONS = {"credit": N_("Money in"), "debit": N_("Money out")}
# Why a deposit waits in suspense (service.flows.deposits: _Batch._matched).
SUSPENSE = {
    "unknown_reference": N_("its payment reference matches no enrollment of this institution"),
    "amount_mismatch": N_("not the amount the enrollment awaits, or already paid"),
    "institution_frozen": N_("the institution is frozen"),
}
INDICATORS = {
    "refund_failed": N_("Refund rejected by the bank"),
    "escrow_shortfall": N_("Escrow shortfall"),
    "refund_overdue": N_("Refund unanswered past its deadline"),
    "refund_velocity": N_("Surge of refund requests"),
    "refund_disputes": N_("Refund requests contested"),
    "lesson_disputes": N_("Lessons disputed by parents"),
    "prepay_surge": N_("Surge of prepayments"),
    "deep_discount": N_("Deep discounts"),
    "off_platform": N_("Money kept off the platform"),
    "consumption_pace": N_("Lessons reported ahead of the timetable"),
    "consumption_stall": N_("No lessons reported"),
    "complaint_surge": N_("Surge of complaints"),
    "statement_missing": N_("Bank statement missing"),
    "reserve_shortfall": N_("Reserve below what parents are owed"),
    "registry_change": N_("Change of legal person or address"),
    "closure_default": N_("Parents still owed after a closure"),
    "bank_warning": N_("The bank's warning on withdrawals or balance"),
    "wind_down": N_("Being wound up"),
    "chain_sibling": N_("A campus of the same sponsor in trouble"),
    "refund_latency": N_("Refunds answered later and later"),
    "dispute_trend": N_("Contested share of refunds rising"),
    "renewal_decline": N_("New money falling at full price"),
    "young_school": N_("A young school collecting ahead of what it delivers"),
    "delivery_share": N_("Lessons delivered short of the timetable"),
    "regulator_note": N_("Raised by a regulator"),
}
# What each indicator measures (docs/domain.md "Warning signs"), in a line.
MEASURES = {
    "refund_failed": N_("A refund the bank rejected within the window."),
    "escrow_shortfall": N_(
        "The bank's balance below the ledger's escrow or below a day's published "
        "liabilities to parents, or money that left the account with no instruction behind it."
    ),
    "refund_overdue": N_("Refunds not answered by their deadline within the window."),
    "refund_velocity": N_(
        "Refund requests per active enrollment in the window, against the institution's "
        "own baseline rate and its region's median."
    ),
    "refund_disputes": N_(
        "Refund requests the institution contested in the window, of those it answered."
    ),
    "lesson_disputes": N_("Lessons parents disputed in the window, of the lessons reported."),
    "prepay_surge": N_(
        "Deposits in the window against the trailing average, the same weeks a year before "
        "and the surge of the city's peers of the same category; judged only with enough "
        "history, and heavier for money collected far ahead of its sessions."
    ),
    "deep_discount": N_("The share of new enrollments paid below a share of the filed price."),
    "off_platform": N_(
        "Cash in suspense unmatched for days, lessons reported on unfunded enrollments, "
        "or complaints of being asked to pay off the platform."
    ),
    "consumption_pace": N_(
        "Lessons reported faster than the filed timetable allows: one is a make-up lesson, "
        "many are lessons billed before they were held."
    ),
    "consumption_stall": N_(
        "No lessons reported for days while sessions were scheduled and balances are outstanding."
    ),
    "complaint_surge": N_("Complaints in the window against the trailing baseline."),
    "statement_missing": N_(
        "Working days without a bank statement of the escrow account, heavier as they add up."
    ),
    "reserve_shortfall": N_("Risk-reserve mode: the reserve below what parents are owed."),
    "registry_change": N_(
        "Changes of legal person or address within the window, adding up (a change of legal "
        "person counts more)."
    ),
    "closure_default": N_(
        "An announced closure took effect some days ago and parents are still owed."
    ),
    "bank_warning": N_(
        "What left the supervised account in a day or a week passed the amount the region's "
        "rules set for the bank to warn on, or the account fell below their minimum balance."
    ),
    "wind_down": N_(
        "A regulator opened the institution's wind-down: the failure itself, judged by it alone."
    ),
    "chain_sibling": N_(
        "Another campus of the same sponsor with money gone, refunds rejected or left "
        "unanswered, or a closure not refunded; heavier with signs of this campus's own."
    ),
    "refund_latency": N_(
        "Working days taken to answer refunds, against the institution's own past and its "
        "city's peers."
    ),
    "dispute_trend": N_("The share of refund requests contested, against its own past."),
    "renewal_decline": N_(
        "New money against its own pace, beside the pace of the city's peers, at full price."
    ),
    "young_school": N_(
        "A school licensed lately: deep discounts, money for sessions far ahead and packages "
        "longer than its peers'; the months since its licence."
    ),
    "delivery_share": N_(
        "Lessons reported against the sessions scheduled, as a share, beside the city's peers."
    ),
}
KNOBS = {
    "weight": N_("Weight in the score"),
    "floor": N_("Lowest level it sets"),
    "window_days": N_("Window, days"),
    "baseline_days": N_("Baseline, days"),
    "threshold": N_("Threshold"),
    "high_threshold": N_("Threshold for high"),
    "high_count": N_("Count for high"),
    "high_floor": N_("Level at the high threshold"),
    "high_weight": N_("Weight at the high threshold"),
    "min_amount": N_("Least amount, yuan"),
    "min_count": N_("Least count"),
    "min_requests": N_("Least requests"),
    "min_enrollments": N_("Least enrollments"),
    "min_sessions": N_("Least sessions scheduled"),
    "min_days": N_("Least days"),
    "price_share": N_("Share of the filed price"),
    "suspense_days": N_("Days in suspense"),
    "strong_threshold": N_("Threshold for a strong signal"),
    "strong_weight": N_("Weight of a strong signal"),
    "strong_count": N_("Count for a strong signal"),
    "strong_floor": N_("Level of a strong signal"),
    "prompt_weight": N_("Weight when answered on time"),
    "min_history_days": N_("Least history, days"),
    "min_peers": N_("Least peers"),
    "ahead_days": N_("Days ahead counted as far"),
    "ahead_share": N_("Share collected far ahead"),
    "ahead_weight": N_("Weight of money collected far ahead"),
    "complaint_units": N_("Units a complaint counts"),
    "high_units": N_("Units for high"),
    "high_days": N_("Working days for high"),
    "step_weight": N_("Weight added a day"),
    "max_weight": N_("Most weight"),
    "legal_person_units": N_("Units a change of legal person counts"),
    "grace_days": N_("Days of grace"),
    "min_lessons": N_("Least lessons counted"),
    "own_min": N_("Own signs that make a sibling weigh more"),
    "signs_weight": N_("Weight with signs of its own"),
    "soft_weight": N_("Weight of a sibling at high on its own signs, alone"),
    "soft_signs_weight": N_("Weight of a sibling at high on its own signs, with signs here"),
    "strong_share": N_("Share for a strong signal"),
    "trend_weight": N_("Weight beside a second trend"),
    "min_answers": N_("Least answers"),
    "min_increase": N_("Least increase, working days"),
    "strong_days": N_("Working days for a strong signal"),
    "min_share": N_("Least share"),
    "base_share": N_("Least past share counted"),
    "peer_floor": N_("Peers' pace below which nothing is judged"),
    "young_days": N_("Young for, days"),
    "long_ratio": N_("Package length against peers"),
    "lag_days": N_("Days reports follow lessons"),
    "prompt_share": N_("Share contested or late still counted as answered on time"),
    "habit_share": N_("Share of today's in the past that makes it a habit"),
    "strong_min_sessions": N_("Least sessions scheduled for a strong signal"),
    "min_reported": N_("Least lessons reported before the window"),
    "corroborating": N_("Parents confirming that teaching stopped"),
    "complaint_days": N_("Days their complaints are counted"),
    "recent_days": N_("Recent days judged for a strong signal"),
    "falling_units": N_("Units raised when new money falls"),
    "falling_floor": N_("Level with new money falling"),
    "falling_pace": N_("New money's pace against its peers' counted as falling"),
    "normal_share": N_("Share the district delivers as filed"),
    "systemic_schools": N_("Accounts a bank is silent on for one systemic event"),
}
COMPLAINTS = {
    "refund": N_("Refund"),
    "teaching_stopped": N_("Teaching stopped"),
    "asked_to_pay_off_platform": N_("Asked to pay off the platform"),
    "quality": N_("Quality"),
    "other": N_("Other"),
    "proof_failed": N_("The liability proof failed"),
}
WARNING_NEVER = N_("Never: parents are not warned")
COMPLAINT_STATUSES = {
    "received": N_("Received by the regulator"),
    "followed_up": N_("The regulator is looking into this institution"),
    "concluded": N_("The regulator has concluded a review of this institution"),
}
JOBS = {
    "refund_escalation": N_("Refund escalation"),
    "release_batch": N_("Release of earned fees"),
    "instruction_delivery": N_("Instruction delivery"),
    "risk_sweep": N_("Risk sweep"),
    "statement_missing": N_("Missing statements check"),
    "alert_reopen": N_("Reopen snoozed cases"),
    "hold_expiry": N_("Expiry of holds"),
    "unpaid_order_expiry": N_("Lapse of unpaid orders"),
    "idempotency_purge": N_("Purge of idempotency keys"),
    "proof_publish": N_("Publication of liability proofs"),
    "approval_expiry": N_("Expiry of requests awaiting approval"),
    "national_rollups": N_("Rollups for the national view"),
}
ACTIONS = {
    "register": N_("Registered the institution"),
    "wind_down:open": N_("Opened the wind-down"),
    "wind_down:round": N_("Distributed a wind-down round"),
    "wind_down:successor_offer": N_("Offered the parents a successor school"),
    "wind_down:offer_accept": N_("A parent accepted the successor school"),
    "wind_down:offer_decline": N_("A parent declined the successor school"),
    "status:winding_down": N_("The institution began winding down"),
    "enrollment:new_access_code": N_("Gave a family a new access code"),
    "alert:claim": N_("Claimed the case"),
    "alert:assign": N_("Assigned the case"),
    "alert:acknowledge": N_("Acknowledged the case"),
    "alert:resolve": N_("Resolved the case"),
    "alert:snooze": N_("Snoozed the case"),
    "alert:reopen": N_("The case reopened"),
    "alert:escalate": N_("Escalated the case"),
    "alert:close": N_("Closed the case"),
    "alert:raise": N_("Raised a case"),
    "status:frozen": N_("Froze the institution"),
    "status:active": N_("Unfroze the institution"),
    "status:blacklisted": N_("Blacklisted the institution"),
    "status:closed": N_("Closed the institution"),
    "closure:announce": N_("Recorded a planned closure"),
    "credit_list:add:dishonest_debtors": N_("Put the institution on the dishonest-debtor list"),
    "credit_list:add:abnormal_operations": N_(
        "Put the institution on the abnormal-operations list"
    ),
    "credit_list:remove:dishonest_debtors": N_(
        "Took the institution off the dishonest-debtor list"
    ),
    "credit_list:remove:abnormal_operations": N_(
        "Took the institution off the abnormal-operations list"
    ),
    "refund:approve": N_("Approved a disputed refund"),
    "refund:reject": N_("Rejected a disputed refund"),
    "consumption:uphold": N_("Upheld a disputed lesson"),
    "consumption:reverse": N_("Reversed a disputed lesson"),
    "statement:review": N_("Reviewed a statement"),
    "deposit:match": N_("Matched money in suspense"),
    "deposit:return": N_("Returned money in suspense"),
    "price_guide:publish": N_("Published a price guide"),
    "price_guide:import": N_("Imported a price guide"),
    "price_guide:supersede": N_("Replaced a price guide (the old one kept)"),
    "school_calendar:set": N_("Set a school vacation"),
    "risk:sweep": N_("Ran a risk sweep"),
    "session:sign_in": N_("Signed in to the workbench"),
    "session:sign_out": N_("Signed out of the workbench"),
    "session:sign_in_failed": N_("Failed to sign in to the workbench"),
    "officer:create": N_("Created an officer"),
    "officer:disable": N_("Disabled an officer"),
    "officer:sign_in": N_("An officer signed in to the API"),
    "officer:sign_in_failed": N_("Failed officer sign-in"),
    "officer:sign_out_everywhere": N_("An officer signed out everywhere"),
    "officer:password_change": N_("An officer changed their password"),
    "officer:totp_enrol": N_("An officer enrolled a new authenticator"),
    "officer:token_issue": N_("An officer issued an API token"),
    "officer:token_revoke": N_("An officer revoked an API token"),
    "officer:roles": N_("Changed an officer's role"),
    "officer:totp_reset": N_("Set up a new authenticator for an officer"),
    "institution:key_issue": N_("An institution issued an API key"),
    "institution:key_revoke": N_("An institution's API key was revoked"),
    "export:institutions": N_("Exported the list of institutions (CSV)"),
    "export:audit": N_("Exported the audit log (CSV)"),
    "export:wind_down_claims": N_("Exported a wind-down's claims and payments (CSV)"),
    "complaint:handle": N_("Handled a complaint"),
    "approval:request": N_("Asked for an approval (four eyes)"),
    "approval:approved": N_("Approved a request (four eyes)"),
    "approval:rejected": N_("Rejected a request (four eyes)"),
    "approval:expired": N_("A request expired unapproved"),
}
# Actions named by a prefix and a key (the knob, the registry field, the job): "Changed a
# threshold: refund_overdue_days".
ACTION_PREFIXES = {
    "setting": N_("Changed a threshold"),
    "registry": N_("Changed the registry"),
    "job": N_("Ran a job"),
}
EVIDENCE = {
    "ref": N_("Refund"),
    "brk": N_("Statement break"),
    "stm": N_("Bank statement"),
    "dep": N_("Deposit"),
    "cmp": N_("Complaint"),
    "con": N_("Lesson report"),
    "enr": N_("Enrollment"),
    "chg": N_("Registry change"),
    "wdn": N_("Wind-down"),
}
PRICE_MODES = {"offline": N_("In a classroom"), "online": N_("Online"), "any": N_("Any")}
GRADE_BANDS = {
    "preschool": N_("Preschool"),
    "primary": N_("Primary school"),
    "junior": N_("Junior secondary"),
    "senior": N_("Senior secondary"),
    "any": N_("Any grade"),
}
SETTINGS = {
    "confirmation_window_days": N_("Days a parent may dispute a lesson"),
    "refund_respond_days": N_("Days an institution has to answer a refund"),
    "auto_freeze_on_critical": N_("Freeze releases when an institution turns critical"),
    "case_snooze_max_days": N_("Days a case may be snoozed at most"),
    "risk_thresholds": N_("Thresholds of the warning signs"),
    "parent_warning_from": N_("Lowest risk level parents are warned of"),
    "parent_warning_score": N_("Parents' warning gives the risk score"),
}
FIELDS = {
    "legal_person": N_("Legal person"),
    "address": N_("Address"),
    "status": N_("Status"),
    "closing_on": N_("Planned closure"),
}

# What a page says when a use case refuses (service/errors.py's codes), in a person's words:
# a form's refusal and the error page show this, never the API's English detail.
# A filing's violations by rule (service.fees.rules): the rule's message is English with the
# numbers; a Chinese page names the rule in Chinese, and for the card caps also the limit.
VIOLATIONS = {
    "card_over_cap": N_("A card over the region's pack caps"),
    "price_above_guidance": N_("Price above the guidance price"),
    "list_price_above_guidance": N_("List price above the guidance price"),
    "no_guidance_price": N_("No guidance price for this course"),
    "weekend_or_holiday_session": N_("A session on a weekend or public holiday"),
    "vacation_session": N_("A session in the school vacation"),
    "late_end_offline": N_("A classroom session ending after 20:30"),
    "late_end_online": N_("An online session ending after 21:00"),
    "online_lesson_too_long": N_("An online lesson longer than 30 minutes"),
    "online_break_too_short": N_("Less than 10 minutes between online lessons"),
    "preschool_online": N_("Online training of preschool children"),
    "preschool_subject": N_("Subject training of preschool children"),
}
OTHER_VIOLATION = N_("Another rule of the filing")
# A card over the caps by its kind (service.fees.rules.rule_card_caps; `card` in the violation).
CARD_KINDS = {
    "sessions": N_("A card over the region's pack caps"),
    "membership": N_("A membership card over the region's pack caps"),
    "stored_value": N_("A stored-value card over the region's pack caps"),
}

REFUSALS = {
    "malformed_json": N_("The request could not be read."),
    "bad_request": N_("The request could not be read."),
    "validation_error": N_(
        "A field of the form is missing, out of range or holds characters it may not."
    ),
    "not_found": N_("Not found, or not in your region."),
    "method_not_allowed": N_("This page cannot be used that way."),
    "unsupported_media_type": N_("The request could not be read."),
    "payload_too_large": N_("The file or the form is too large."),
    "internal_error": N_("Something went wrong on our side; it has been logged."),
    "unavailable": N_("The service is briefly unavailable: try again in a moment."),
    "unauthenticated": N_("Please sign in again."),
    "invalid_signature": N_("The bank's signature is missing or wrong."),
    "invalid_access_code": N_("The enrollment number or the access code is wrong."),
    "forbidden": N_("You may not do this, or the form is stale: reload the page and try again."),
    "role_forbidden": N_("Your role may read but not change anything here."),
    "role_cannot_approve": N_(
        "Only a supervisor signed in as a person may approve or reject a request."
    ),
    "approval_by_requester": N_(
        "You asked for this yourself: another supervisor must approve or reject it."
    ),
    "approval_decided": N_("This request has already been approved or rejected."),
    "approval_expired": N_("This request is more than 72 hours old and has expired: ask again."),
    "invalid_credentials": N_("The username, password or code is wrong."),
    "weak_password": N_("The password is too short or too common: choose a longer one."),
    "duplicate_username": N_("This username is taken: choose another."),
    "wrong_password": N_("The current password is wrong."),
    "invalid_totp": N_("That code is not the new authenticator's: type the six digits it shows."),
    "no_enrolment": N_("Start by showing a new QR code."),
    "second_factor_reset_required": N_(
        "Your authenticator can no longer be checked: ask an administrator of your office to "
        "set up a new one for you."
    ),
    "person_required": N_("Only an officer signed in as themselves may do this."),
    "last_key": N_("This is the institution's last key: issue the next one before revoking it."),
    "out_of_region": N_("This is outside your region."),
    "foreign_account": N_("The account is not held at this bank."),
    "rate_limited": N_("Too many requests: wait a moment and try again."),
    "too_many_attempts": N_("Too many failed attempts: wait and try again."),
    "idempotency_conflict": N_("This was already sent with other content."),
    "idempotency_in_progress": N_(
        "The same request is still being handled: try again in a moment."
    ),
    "invalid_credit_code": N_("The unified social credit code is not valid."),
    "invalid_region_code": N_("No such administrative division."),
    "member_not_named": N_(
        "Name the member this transferred enrollment is before reporting its lessons."
    ),
    "region_conflict": N_("The region given is not the institution's own region."),
    "duplicate_credit_code": N_("An institution with this credit code is already registered."),
    "duplicate_account": N_("This escrow account is already registered."),
    "duplicate_bank_code": N_("A bank with this code already exists."),
    "unknown_bank": N_("No such custody bank."),
    "invalid_overlap": N_("The overlap of the old and new secret is out of bounds."),
    "invalid_choice": N_("That is not one of the answers this decision takes."),
    "invalid_state": N_("Not possible in its present state."),
    "institution_inactive": N_("The institution is closed or blacklisted."),
    "institution_final": N_("A closed or blacklisted institution cannot be reactivated."),
    "institution_closing": N_("The institution has announced its closure."),
    "wind_down_exists": N_("The institution is already being wound up."),
    "institution_winding_down": N_(
        "The institution is being wound up: it takes no fees, and what parents prepaid is "
        "paid back through the wind-down."
    ),
    "nothing_to_distribute": N_("There is no money to distribute, or no claim left to pay."),
    "round_above_available": N_(
        "The amount is more than the wind-down has available or than the claims are still owed."
    ),
    "successor_out_of_scope": N_("The successor is not an institution of your region."),
    "successor_not_active": N_(
        "The successor is not active: it is frozen, being wound up, closed or closing."
    ),
    "successor_no_course": N_(
        "The successor has no approved course of the same kind with sessions for the lessons left."
    ),
    "nothing_to_offer": N_(
        "No claim is left to offer: every one is paid, transferred, has no lessons left or "
        "already has an offer open."
    ),
    "claim_not_offerable": N_(
        "This claim cannot be offered a successor: it is paid, transferred, has no lessons "
        "left or already has an offer open."
    ),
    "offer_expired": N_("The offer has expired: the claim stays in the wind-down's rounds."),
    "offer_decided": N_("The offer was already decided."),
    "claim_payment_in_flight": N_(
        "A payment on this claim is with the bank: decide once the bank has answered."
    ),
    "transfer_not_covered": N_(
        "Neither the escrow nor the reserve alone holds this claim's part of the money: try "
        "after the next recovery."
    ),
    "effective_in_future": N_("A wind-down takes effect at an instant already past."),
    "closure_in_past": N_("A closure cannot take effect before today."),
    "institution_not_frozen": N_("The institution is not frozen."),
    "no_reserve": N_("The institution has no reserve account."),
    "deposit_not_in_suspense": N_("The deposit is not held in suspense."),
    "deposit_does_not_pay": N_("The deposit is not what the enrollment awaits."),
    "alert_not_open": N_("The case is not open."),
    "alert_resolved": N_("The case is already closed."),
    "development_only": N_("Only in a development environment."),
    "case_escalated": N_("The case was escalated: it is the office above's now."),
    "snooze_too_long": N_("The snooze is longer than your region allows."),
    "calendar_out_of_range": N_("Working days are counted only for 2000 to 2099."),
    "entry_gate_closed": N_("The region does not yet allow this institution to take prepayments."),
    "credit_listed": N_(
        "The institution is on a list the regulator keeps and may not take prepayments."
    ),
    "invalid_rule": N_(
        "A rule of the pack is unknown or outside its bounds; the rule and its field are named."
    ),
    "cannot_escalate": N_("There is no office above to escalate to."),
    "complaint_limit": N_("Too many complaints from this enrollment today."),
    "complaint_already_filed": N_("A complaint of this kind is already open."),
    "course_not_approved": N_("The course was not approved."),
    "sessions_in_past": N_("Every session of the course is already over."),
    "prepay_over_cap": N_("The prepayment is over the cap."),
    "prepay_over_consumer_cap": N_(
        "The consumer would hold more prepaid at this institution than the region allows."
    ),
    "collected_too_early": N_("Fees collected more than a month before the first lesson."),
    "amount_above_filed_price": N_("The amount is above the lessons times the filed price."),
    "not_enough_sessions": N_("The course has fewer sessions left than asked for."),
    "institution_frozen": N_("The institution is frozen."),
    "price_guide_exists": N_("Another guide is published for this region and day."),
    "price_guides_rejected": N_("The guides failed their checks; nothing was published."),
    "no_guidance_price": N_("No guidance price applies."),
    "exceeds_remaining": N_("More lessons than remain."),
    "not_funded": N_("The enrollment is not paid."),
    "occurred_in_future": N_("A lesson cannot be reported before it happens."),
    "occurred_before_payment": N_("A lesson cannot be dated before its enrollment was paid."),
    "nothing_to_refund": N_("Nothing is left to refund."),
    "refund_in_progress": N_("A refund is already in progress."),
    "deposit_above_limit": N_("A single deposit above the allowed maximum."),
    "unknown_instruction": N_("No such instruction at this bank."),
    "instruction_settled": N_("The instruction already has another result."),
    "unknown_job": N_("No such job."),
    "job_not_regional": N_("This job acts on the whole service; only the scheduler runs it."),
    "as_of_in_future": N_("The day given is later than today."),
    "as_of_too_old": N_("The day given is further back than a re-run may reach."),
    "insufficient_funds": N_("Not enough money in the account."),
    "exceeds_debits": N_("The ledger refused the transfer."),
    "account_not_found": N_("The ledger refused the transfer."),
    "account_closed": N_("The ledger refused the transfer."),
    "ledger_mismatch": N_("The ledger refused the transfer."),
    "invalid_amount": N_("The amount is not valid."),
    "pending_not_found": N_("The ledger refused the transfer."),
    "pending_already_resolved": N_("The ledger refused the transfer."),
    "pending_already_posted": N_("The ledger refused the transfer."),
    "pending_already_voided": N_("The ledger refused the transfer."),
    "pending_already_expired": N_("The ledger refused the transfer."),
    "void_amount_differs": N_("The ledger refused the transfer."),
    "invalid_expiry": N_("The ledger refused the transfer."),
    "invalid_code": N_("The ledger refused the transfer."),
    "overflow": N_("The amount is too large."),
    "pending_expired": N_("The ledger refused the transfer."),
    "post_exceeds_pending": N_("The ledger refused the transfer."),
}

ROLES = {
    "viewer": N_("Clerk (reads)"),
    "officer": N_("Officer (works cases)"),
    "supervisor": N_("Supervisor (also approves)"),
    "admin": N_("Administrator (also manages officers)"),
}

# A wind-down's words (docs/winddown.md).
WIND_DOWN_REASONS = {
    "closed": N_("Closed"),
    "absconded": N_("Absconded"),
    "revoked": N_("Licence revoked"),
}
CLAIM_STATUSES = {
    "open": N_("Owed"),
    "paid": N_("Paid in full"),
    "unreachable": N_("Unreachable: the bank could not pay"),
    "transferred": N_("Transferred to another school"),
}
OFFER_STATUSES = {
    "offered": N_("Awaiting your answer"),
    "expired": N_("Expired: no answer by the deadline"),
    "accepted": N_("Accepted: the bank is moving the money"),
    "transferred": N_("Accepted: the money is at the successor"),
    "failed": N_("The bank could not move the money: your claim stays"),
    "declined": N_("Declined"),
}
# The workbench's tally of a successor's offers (the regulator's words, not the parent's).
OFFER_COLUMNS = {
    "offered": N_("Awaiting the parent"),
    "accepted": N_("Accepted, with the bank"),
    "transferred": N_("Transferred"),
    "declined": N_("Declined"),
    "expired": N_("Expired"),
    "failed": N_("Refused by the bank"),
}
ROUND_STATUSES = {"instructed": N_("With the bank"), "settled": N_("Settled")}
# A wind-down's own state (not a case's "open", which waits for someone to handle it).
WIND_DOWN_STATUSES = {"open": N_("Wind-down under way"), "closed": N_("Wind-down finished")}
PAYMENT_STATUSES = {
    "instructed": N_("With the bank"),
    "paid": N_("Paid"),
    "rejected": N_("Rejected by the bank"),
    "held": N_("Held until an account is named"),
}
# Four eyes (service.policy.approvals): what each approvable action is, what each line of
# its description says, and where a request stands.
APPROVABLE = {
    "unfreeze": N_("Unfreeze an institution"),
    "rule_pack_change": N_("Change a rule of the region"),
    "price_guide_publish": N_("Publish a price guide"),
    "wind_down_open": N_("Open a wind-down"),
    "wind_down_round": N_("Pay a round of a wind-down"),
    "successor_offer": N_("Offer parents a successor institution"),
}
APPROVAL_FACTS = {
    "institution": N_("Institution"),
    "institution_id": N_("Institution's id"),
    "region": N_("Region"),
    "status_now": N_("Status now"),
    "status_after": N_("Status once approved"),
    "reason": N_("Reason given"),
    "setting": N_("Rule"),
    "value_now": N_("In force now"),
    "value_after": N_("Once approved"),
    "effective_from": N_("Takes effect from"),
    "via": N_("Sent from"),
    "replace_existing": N_("Replaces a guide published for the same day"),
    "guide": N_("Price guide"),
    "wind_down_reason": N_("Why the institution is wound up"),
    "effective_at": N_("Effective instant"),
    "note": N_("Note"),
    "wind_down_id": N_("Wind-down's id"),
    "amount": N_("Amount to share"),
    "successor": N_("Successor school"),
    "successor_institution_id": N_("Successor's id"),
    "enrollments": N_("Enrollments offered"),
}
APPROVAL_STATUSES = {
    "pending": N_("Awaiting approval"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "expired": N_("Expired"),
}
DOORS = {"api": N_("The API"), "workbench": N_("The workbench"), "cli": N_("The command line")}
# The one key name the service gives itself (an institution's first key,
# service.registry.institutions.register); the names an institution gives are shown as given.
KEY_NAMES = {"first key": N_("First key")}

KINDS: dict[str, Mapping[Any, str]] = {
    "roles": ROLES,
    "key_names": KEY_NAMES,
    "wind_down_reasons": WIND_DOWN_REASONS,
    "claims": CLAIM_STATUSES,
    "offers": OFFER_STATUSES,
    "offer_columns": OFFER_COLUMNS,
    "rounds": ROUND_STATUSES,
    "wind_down_statuses": WIND_DOWN_STATUSES,
    "payments": PAYMENT_STATUSES,
    "levels": LEVELS,
    "statuses": STATUSES,
    "categories": CATEGORIES,
    "modes": MODES,
    "cases": CASE_STATUSES,
    "outcomes": OUTCOMES,
    "refunds": REFUND_STATUSES,
    "lessons": LESSON_STATUSES,
    "statements": STATEMENT_STATUSES,
    "breaks": BREAKS,
    "directions": DIRECTIONS,
    "suspense": SUSPENSE,
    "indicators": INDICATORS,
    "complaints": COMPLAINTS,
    "complaint_statuses": COMPLAINT_STATUSES,
    "parent_lessons": PARENT_LESSONS,
    "lists": LISTS,
    "next_steps": NEXT_STEPS,
    "jobs": JOBS,
    "actions": ACTIONS,
    "measures": MEASURES,
    "knobs": KNOBS,
    "evidence": EVIDENCE,
    "fields": FIELDS,
    "price_modes": PRICE_MODES,
    "grade_bands": GRADE_BANDS,
    "settings": SETTINGS,
    "approvable": APPROVABLE,
    "approval_facts": APPROVAL_FACTS,
    "approval_statuses": APPROVAL_STATUSES,
    "doors": DOORS,
    "violations": VIOLATIONS,
}


def label(kind: str, code: object) -> str:
    """The English label of a code (then translated); the code itself if it has none."""
    return KINDS[kind].get(code, str(code))


def violation(
    v: Mapping[str, Any], _: Callable[[str], str], lang: str, money: Callable[[Any], str]
) -> str:
    """A filing's violation as a page says it: the rule named in the page's language; for a
    card over the pack's caps also the cap passed (its limit); the rule's own message (English,
    with every number) only on an English page, never a code on a Chinese one."""
    rule = str(v.get("rule"))
    if rule == "card_over_cap" and v.get("card") in CARD_KINDS:
        named = _(CARD_KINDS[str(v.get("card"))])
    else:
        named = _(VIOLATIONS.get(rule, OTHER_VIOLATION))
    if lang == "en":
        return f"{named}: {v.get('message', '')}"
    if rule != "card_over_cap":
        return str(named)
    cap, limit = v.get("cap"), v.get("limit")
    if cap == "sessions":
        return _("%(rule)s: at most %(n)s sessions a card") % {"rule": named, "n": limit}
    if cap == "membership_months":
        return _("%(rule)s: a term of at most %(n)s months") % {"rule": named, "n": limit}
    if cap in ("amount", "membership_amount", "stored_value_amount"):
        return _("%(rule)s: at most %(a)s a card") % {"rule": named, "a": money(limit)}
    return str(named)


def action(code: str) -> tuple[str, str | None]:
    """An audited action as (English label, the key it names or None)."""
    if code in ACTIONS:
        return ACTIONS[code], None
    prefix, _sep, key = code.partition(":")
    if prefix in ACTION_PREFIXES:
        return ACTION_PREFIXES[prefix], key or None
    return code, None


def place(code: str | None) -> str:
    """A division's name (东丰县) for its code; the code itself only if the list lacks it."""
    if not code:
        return "—"
    info = known_regions().get(code)
    return info.name if info else code


def places(region_code: str) -> list[tuple[str, str]]:
    """The divisions a regulator of `region_code` oversees, itself first, then each city
    followed by its districts (a district's name indented under its city's), for a select."""
    prefix = scope_prefix(region_code)
    inside = sorted(
        code
        for code, info in known_regions().items()
        if code.startswith(prefix) and code != region_code and info.superseded_by is None
    )
    out = [(region_code, place(region_code))]
    for code in inside:
        nested = code[4:] != "00" and code[:4] + "00" in inside
        out.append((code, ("\u3000" if nested else "") + place(code)))
    return out


# What a bank (the demo's simulator, the backtest) gives as its reason for refusing to pay.
BANK_REASONS = {
    "insufficient funds in the supervised account": N_(
        "not enough money in the supervised account"
    ),
    "rejected by the bank": N_("refused by the bank"),
    "rejected by the bank (test)": N_("refused by the bank"),
    "rejected by the bank (random)": N_("refused by the bank"),
    "rejected in the history": N_("refused by the bank"),
}
# The refund's timeline notes the domain writes itself (service/flows/refunds.py), as a
# sentence with the part that is data (a reason, the bank's reference) kept apart.
REFUND_NOTES = (
    (
        "drawn on the risk reserve: instruction ",
        "instructed",
        N_("to be paid from the risk reserve"),
    ),
    ("instruction ", "instructed", ""),
    ("bank_txn_id ", "paid", N_("bank reference %(data)s")),
    ("approved by regulator: ", "accepted", N_("approved by the regulator: %(data)s")),
    ("no answer by respond_by", "accepted", N_("the institution did not answer in time")),
)


def refund_note(status: str, note: str | None) -> tuple[str, str | None]:
    """A refund event's note as (English words after its status, with `%(data)s` where the
    data goes; the data); a note that is a person's reason is shown as it is, and a note
    that only repeats the status is no words at all."""
    if not note:
        return "", None
    for prefix, when, sentence in REFUND_NOTES:
        if status == when and note.startswith(prefix):
            data = note[len(prefix) :]
            return sentence, data if "%(data)s" in sentence else None
    if status == "failed":
        return "%(data)s", BANK_REASONS.get(note, note)
    return "%(data)s", note


def setting_value(key: str, value: Any, _: Any) -> str:
    """A region's setting in words: each knob of the warning signs by its name, a level by
    its label, yes or no."""
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if key == "parent_warning_from":
        return str(_(LEVELS.get(value, WARNING_NEVER)))
    if isinstance(value, dict):
        parts = []
        for code, knobs in value.items():
            for name, v in knobs.items() if isinstance(knobs, dict) else []:
                shown = (_(label("levels", v)) if v else "—") if name.endswith("floor") else v
                sign, knob = _(label("indicators", code)), _(label("knobs", name))
                parts.append(f"{sign} · {knob}: {shown}")
        return "; ".join(parts) or "—"
    return "—" if value is None else str(value)
