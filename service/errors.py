"""The service's one error type with stable codes, and the one table mapping codes to HTTP.

Domain code raises `DomainError(code, detail)`; routers never build HTTP errors for business
outcomes. Each code's entry says when it fires, its HTTP status and whether a retry can
succeed; docs/errors.md is generated from the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger import errors as ledger_errors


class DomainError(Exception):
    def __init__(
        self,
        code: str,
        detail: str,
        *,
        violations: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        if code not in STATUS:
            raise KeyError(f"unregistered error code {code!r}")
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.violations = violations
        self.extra = extra or {}
        self.retry_after = retry_after  # seconds, for a refusal that time will lift

    @property
    def status(self) -> int:
        return STATUS[self.code][0]

    @property
    def title(self) -> str:
        return STATUS[self.code][1]


@dataclass(frozen=True)
class Code:
    status: int
    title: str
    when: str  # when it fires
    retry: str  # whether the same request can succeed later, and when


def _c(status: int, title: str, when: str, retry: str = "no") -> Code:
    return Code(status, title, when, retry)


LATER = "yes, later"
# The one error table: every code the service answers, with its HTTP status. docs/errors.md is
# generated from it (`python -m service.errors`) and a test fails when the two drift.
CODES: dict[str, Code] = {
    # transport and validation
    "malformed_json": _c(400, "The body is not valid JSON", "the body cannot be parsed"),
    "bad_request": _c(400, "The request cannot be read", "the request line or framing is bad"),
    "validation_error": _c(
        422, "The request does not match the schema",
        "a field is missing, of the wrong type, out of range or holds a control character; "
        "`errors` names each field",
    ),
    "not_found": _c(404, "No such resource",
                    "no such object, or one outside the caller's scope (not revealed)"),
    "method_not_allowed": _c(405, "Method not allowed on this resource",
                             "the path exists, not with this method; `Allow` lists those it has"),
    "unsupported_media_type": _c(415, "Send application/json",
                                 "an API body that is not application/json"),
    "payload_too_large": _c(413, "The body is too large",
                            "the body passes its cap (1 MiB; 32 MiB for a bank's batch or "
                            "statement)"),
    "internal_error": _c(500, "Internal error", "a bug: it was logged", "perhaps; report it"),
    "unavailable": _c(503, "Temporarily unavailable; retry later",
                      "the database is unreachable, restarting or not at the code's schema, "
                      "or it broke a deadlock or a conflict by rolling the request back", LATER),
    # credentials
    "unauthenticated": _c(401, "Missing or invalid credential",
                          "no bearer credential, or one the service does not know"),
    "invalid_signature": _c(401, "Missing, wrong or stale bank signature",
                            "a bank call without a valid HMAC signature within 300 s",
                            "yes, signed again now"),
    "invalid_access_code": _c(401, "Enrollment id or access code is wrong",
                              "a parent signs in with a wrong id or code (counted)"),
    "forbidden": _c(403, "This credential may not do that", "the credential lacks the right"),
    "invalid_credentials": _c(401, "Username, password or code is wrong",
                              "an officer's sign-in with a wrong part, or a disabled officer's "
                              "(the same answer whichever; counted)"),
    "role_forbidden": _c(403, "The officer's role may not do that",
                         "a viewer's write, or an action the role lacks (docs/security.md "
                         "\"Officers and roles\")"),
    "role_cannot_approve": _c(403, "This caller may request but not approve",
                              "an approval decided by the office's own token, a viewer or an "
                              "officer: only a supervisor or an admin approves or rejects"),
    "approval_by_requester": _c(403, "A request is approved by another person",
                                "the officer who asked approves or rejects their own request"),
    "approval_decided": _c(409, "The approval is already decided",
                           "approving or rejecting an approval approved or rejected before "
                           "(by you or another supervisor, even at the same moment)"),
    "approval_expired": _c(409, "The approval has expired",
                           "deciding an approval 72 hours or more after it was asked: ask "
                           "again", "no; a new request can be approved"),
    "weak_password": _c(422, "The password is too short or too common",
                        "a password under 12 characters, on the common list, or holding the "
                        "username"),
    "duplicate_username": _c(409, "The username is taken", "creating an officer twice"),
    "wrong_password": _c(403, "The current password is wrong",
                         "changing a password without the right current one (counted; past "
                         "the free tries 429 `too_many_attempts`)"),
    "invalid_totp": _c(422, "The code is not the new authenticator's",
                       "confirming an authenticator's enrolment with a wrong or stale code"),
    "second_factor_reset_required": _c(409, "The officer's authenticator must be set up again",
                                       "an officer's sign-in with the right password whose "
                                       "stored TOTP secret the server's key no longer opens (the "
                                       "SECRET_KEY changed): an admin of the office resets the "
                                       "second factor (POST /officers/{id}/totp-reset)",
                                       "no; after an admin's reset"),
    "no_enrolment": _c(409, "No authenticator enrolment is pending",
                       "confirming an enrolment never started (or already confirmed)"),
    "person_required": _c(403, "Sign in as a person for this",
                          "the office's own token, or an officer's API token, managing an "
                          "officer's own credentials (sessions, password, authenticator, "
                          "tokens)"),
    "last_key": _c(409, "The institution's last key",
                   "revoking an institution's only live API key (it could never sign in "
                   "again): issue the next one first"),
    "out_of_region": _c(403, "Outside the regulator's region",
                        "a region or institution outside the regulator's scope"),
    "foreign_account": _c(403, "The account is not held at this bank",
                          "a bank names a supervised account of another bank"),
    "rate_limited": _c(429, "Too many requests; slow down",
                       "a caller spent its rate limit (RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST, "
                       "or its kind's in RATE_LIMITS); `Retry-After` says when to come back",
                       "yes, after Retry-After"),
    "too_many_attempts": _c(429, "Too many failed attempts; wait and retry",
                            "this client guessed access codes (or an officer's password) too "
                            "often; `Retry-After` says how long", "yes, after Retry-After"),
    # idempotency
    "idempotency_conflict": _c(409, "Idempotency key reused with a different request",
                               "the same key (or bank_txn_id) with another body"),
    "idempotency_in_progress": _c(409, "A request with this idempotency key is still running",
                                  "another request with the key is still running after the wait",
                                  LATER),
    # registry and policies
    "invalid_credit_code": _c(422, "Invalid unified social credit code",
                              "the GB 32100 check digit or format is wrong"),
    "invalid_region_code": _c(422, "Unknown administrative division code",
                              "a region code that does not exist"),
    "member_not_named": _c(409, "Name the member this transferred enrollment is first",
                           "a lesson reported on a successor's enrollment of a transferred "
                           "claim whose member the successor has not yet named (POST "
                           "/enrollments/{id}/member), under a pack with a per-consumer cap"),
    "region_conflict": _c(422, "The region given is not the institution's",
                          "a course check naming an institution (or sent by one) with a "
                          "`region_code` other than the institution's own region"),
    "duplicate_credit_code": _c(409, "An institution with this credit code exists",
                                "registering a credit code already registered"),
    "duplicate_account": _c(409, "This escrow account is already registered",
                            "an escrow or reserve account already supervised"),
    "duplicate_bank_code": _c(409, "A bank with this code exists", "creating a bank twice"),
    "unknown_bank": _c(422, "No such custody bank", "registering with a bank id not known"),
    "invalid_overlap": _c(422, "The rotation overlap is out of bounds",
                          "rotating a bank's secret with an overlap under 0 or over 7 days"),
    "invalid_choice": _c(422, "Not one of the answers this decision takes",
                         "a use case given a decision or status outside its set (a caller's "
                         "bug: the API's schema refuses it first); `field` and `allowed` say "
                         "which"),
    "invalid_state": _c(409, "Not allowed in the object's current state",
                        "a refund not awaiting the answer or decision asked, a lesson outside "
                        "its window or not disputed (the API's contract fixes this code "
                        "there); `state` says the current state"),
    "institution_inactive": _c(409, "The institution is closed or blacklisted",
                               "enrolling at a closed or blacklisted institution"),
    "institution_final": _c(409, "A closed or blacklisted institution cannot be reactivated",
                            "unfreezing or reactivating a closed or blacklisted institution"),
    "institution_closing": _c(409, "The institution has announced its closure",
                              "enrolling at an institution that announced its closure: it may "
                              "collect no new fees"),
    "wind_down_exists": _c(409, "The institution is already being wound up",
                           "opening a wind-down of an institution that has one"),
    "institution_winding_down": _c(409, "The institution is being wound up",
                                   "a deposit, enrollment, lesson, refund or status change at "
                                   "an institution being wound up: its parents' claims are paid "
                                   "in the wind-down's rounds (a deposit is refused at the bank "
                                   "gate and returned to its payer)"),
    "nothing_to_distribute": _c(422, "Nothing to distribute",
                                "a wind-down round with no money available or no claim left "
                                "to pay", LATER),
    "round_above_available": _c(422, "More than the wind-down can distribute",
                                "a round's amount above the money available or above what the "
                                "claims have not yet been given; the detail says both"),
    "successor_out_of_scope": _c(422, "The successor is not an institution of your region",
                                 "offering a wind-down's parents a successor that does not "
                                 "exist or lies outside the regulator's region"),
    "successor_not_active": _c(409, "The successor is not active",
                               "offering (or accepting) a successor that is frozen, being wound "
                               "up, closed or closing; `state` says its status"),
    "successor_no_course": _c(422, "The successor has no course that takes the lessons",
                              "offering a successor with no approved course of the same "
                              "category with enough sessions after now for the lessons left"),
    "nothing_to_offer": _c(422, "No claim to offer a successor",
                           "a successor offer when every claim is paid, transferred, has no "
                           "lessons left or already has an offer open"),
    "claim_not_offerable": _c(409, "This claim cannot be offered a successor",
                              "naming an enrollment whose claim is paid, transferred, has no "
                              "lessons left or already has an offer open; `state` says which"),
    "offer_expired": _c(409, "The successor offer has expired",
                        "accepting or declining an offer past its deadline: the claim stays "
                        "in the wind-down's rounds"),
    "offer_decided": _c(409, "The successor offer was already decided",
                        "accepting a declined offer or declining an accepted one; `state` "
                        "says the decision"),
    "claim_payment_in_flight": _c(409, "A payment on this claim is with the bank",
                                  "accepting a successor while a round's payment on the claim "
                                  "awaits the bank's answer", LATER),
    "transfer_not_covered": _c(409, "The wind-down cannot fund this transfer from one account",
                               "accepting a successor when neither the escrow nor the reserve "
                               "alone holds the claim's part of the money available", LATER),
    "effective_in_future": _c(422, "A wind-down takes effect at an instant already past",
                              "opening a wind-down effective after now (a planned closure is "
                              "announced instead) or before the institution existed"),
    "closure_in_past": _c(422, "A closure cannot take effect before today",
                          "announcing a closure dated before today (Beijing)"),
    "institution_not_frozen": _c(409, "The institution is not frozen",
                                 "unfreezing an institution that is not frozen"),
    "no_reserve": _c(409, "The institution has no reserve account",
                     "drawing on the reserve of an institution without one"),
    "deposit_not_in_suspense": _c(409, "The deposit is not held in suspense",
                                  "matching or returning a deposit already matched or returned"),
    "deposit_does_not_pay": _c(409, "The deposit is not what the enrollment awaits",
                               "matching suspense cash to an enrollment not awaiting that amount"),
    "alert_not_open": _c(409, "The alert is not open", "acknowledging an alert not open"),
    "alert_resolved": _c(409, "The alert is already resolved",
                         "resolving, snoozing, assigning or escalating a closed case"),
    "development_only": _c(403, "Only in a development environment",
                           "a development tool (`demo seed`, which creates logins whose secrets "
                           "the repository publishes) run where ENVIRONMENT is not "
                           "`development`"),
    "case_escalated": _c(409, "The case was escalated to the office above",
                         "an office acts on a case it escalated: the office it went up to "
                         "(or one above) acts on it now; the sender still reads it"),
    "snooze_too_long": _c(422, "The snooze is longer than the region allows",
                          "snoozing a case past case_snooze_max_days (a regional rule, "
                          "default 30)"),
    "cannot_escalate": _c(409, "There is no region above to escalate to",
                          "a province's regulator escalates a case"),
    "complaint_limit": _c(429, "Too many complaints from this enrollment today",
                          "an enrollment files more than 3 complaints in a Beijing day; "
                          "`Retry-After` says when the next day begins", "yes, after Retry-After"),
    "complaint_already_filed": _c(409, "A complaint of this category is already open",
                                  "an enrollment files a complaint of a category while its "
                                  "last one of it is open (not yet handled by the regulator)",
                                  "yes, once the regulator has handled it"),
    # fees and enrollments
    "course_not_approved": _c(422, "The course was not approved", "enrolling in a rejected course"),
    "sessions_in_past": _c(422, "Every session of the course is already over",
                           "filing a course none of whose sessions ends after now"),
    "prepay_over_cap": _c(422, "Prepayment over the cap",
                          "more than 60 lessons, past 3 months, or over 5,000 yuan (non-subject)"),
    "prepay_over_consumer_cap": _c(409, "The consumer would hold more prepaid than the cap",
                                   "an enrollment that would take what one consumer "
                                   "(`student_ref`) holds prepaid at the institution, not yet "
                                   "consumed or refunded, over the pack's "
                                   "`prepay_caps.per_consumer` (Shanghai's fitness rules: "
                                   "20,000 yuan); `limit` and `held` say how much",
                                   "yes, once lessons taken or refunds free room"),
    "collected_too_early": _c(422, "Collection more than one month before the first lesson",
                              "the first lesson bought is more than a month away"),
    "amount_above_filed_price": _c(422, "Amount above lessons × filed price",
                                   "charging more than the filed price"),
    "not_enough_sessions": _c(422, "The course has fewer sessions left than requested",
                              "buying more lessons than the course has sessions ahead"),
    "institution_frozen": _c(409, "The institution is frozen",
                             "a frozen institution files a course or enrols", "yes, once unfrozen"),
    "price_guide_exists": _c(409, "A different guide is published for this region and day",
                             "publishing a guide for a day that has one, without `supersede`",
                             "yes, with supersede (the old guide is kept as history)"),
    "price_guides_rejected": _c(422, "The guides failed their checks; nothing was published",
                                "a price CSV (or several problems of one guide): `errors` "
                                "lists each problem with its `line`, `field` and `message`"),
    "no_guidance_price": _c(422, "No guidance price applies",
                            "no guidance price is in force for the course's band and region"),
    "calendar_out_of_range": _c(422, "The day lies outside the working-day calendar",
                                "a count of working days that starts or ends outside 2000 to "
                                "2099 (the years the holiday calendar is computed for)"),
    "entry_gate_closed": _c(409, "The region's entry gate is not yet open to this institution",
                            "an enrollment in the months after the licence that the region's "
                            "pack closes to prepaid sales (`entry_gate`); `opens_on` says when",
                            "yes, from opens_on"),
    "credit_listed": _c(409, "The institution is on a list that closes prepaid sales",
                        "an enrollment while the institution is on a list the regulator keeps "
                        "(dishonest debtors, abnormal operations) that the region's pack's "
                        "entry gate names (`entry_gate.credit_lists`); `list` names it",
                        "yes, once the regulator takes it off the list"),
    "invalid_rule": _c(422, "A rule of the pack is not one the service can obey",
                       "a rule pack names an unknown rule, a value outside the rule's bounds, a "
                       "source without a title or issuer, or a region-wide rule in one sector's "
                       "layer; `rule` and `field` name it"),
    # flows
    "exceeds_remaining": _c(422, "More lessons than remain",
                            "reporting or refunding more lessons than remain"),
    "not_funded": _c(422, "The enrollment is not paid",
                     "reporting a lesson on an unpaid enrollment", "yes, once paid"),
    "occurred_in_future": _c(422, "A lesson cannot be reported before it happens",
                             "occurred_at later than now", "yes, once it happened"),
    "occurred_before_payment": _c(422, "A lesson cannot be dated before its enrollment was paid",
                                  "occurred_at before the enrollment's payment reached escrow"),
    "nothing_to_refund": _c(422, "Nothing left to refund",
                            "no paid, unconsumed lessons remain (or more are asked than remain)"),
    "refund_in_progress": _c(409, "A refund is already in progress",
                             "a refund is requested while another is open", "yes, once it ends"),
    "deposit_above_limit": _c(422, "A single deposit above the configured maximum",
                              "a deposit over MAX_DEPOSIT_AMOUNT (500,000.00)"),
    "unknown_instruction": _c(404, "No such instruction at this bank",
                              "a result for an instruction of another bank, or none"),
    "instruction_settled": _c(409, "The instruction already has another result",
                              "a second, different result for an instruction"),
    "unknown_job": _c(404, "No such job", "running a job that does not exist"),
    "job_not_regional": _c(403, "This job acts on the whole service; only the scheduler runs it",
                           "a regulator runs hold_expiry or idempotency_purge"),
    "as_of_in_future": _c(422, "as_of is later than now",
                          "a job or sweep as_of later than now beyond the clock skew (300 s)",
                          "yes, once that instant has come"),
    "as_of_too_old": _c(422, "as_of is further back than a re-run may reach",
                        "a job or sweep as_of older than AS_OF_MAX_PAST_DAYS (31)"),
    # the ledger's (docs/ledger.md)
    "insufficient_funds": _c(422, "Not enough funds",
                             "a debit past a liability's credits, holds counted",
                             "yes, once funds arrive or holds are voided"),
    "exceeds_debits": _c(422, "Would credit past the debits",
                         "a credit past an asset's debits, holds counted", "yes, likewise"),
    "account_not_found": _c(404, "No such ledger account", "an account id that does not exist"),
    "account_closed": _c(409, "The ledger account is closed", "a transfer to a closed account"),
    "ledger_mismatch": _c(422, "Accounts in different ledgers",
                          "sides in different ledgers, or the same account twice"),
    "invalid_amount": _c(422, "Invalid amount",
                         "an amount not positive, not finite or with more than two decimals"),
    "pending_not_found": _c(404, "No such pending transfer",
                            "resolving a hold that does not exist or has not expired"),
    "pending_already_resolved": _c(409, "The hold is already resolved",
                                   "resolving a hold twice (the codes below say how it was)"),
    "pending_already_posted": _c(409, "The hold was already posted",
                                 "the hold's money went to the credit account already"),
    "pending_already_voided": _c(409, "The hold was already voided",
                                 "the hold's money went back to the debit account already"),
    "pending_already_expired": _c(409, "The hold expired",
                                  "the hold expired (its money went back) before this"),
    "void_amount_differs": _c(422, "A void returns the whole hold",
                              "a void naming an amount other than the hold's"),
    "invalid_expiry": _c(422, "A hold must expire after it is made",
                         "an expiry not after the transfer, or on a single-phase one"),
    "invalid_code": _c(422, "Transfer code, reference or key out of bounds",
                       "a code empty or over 32 characters, a reference or key over 128"),
    "overflow": _c(422, "The amount or a balance would exceed what the ledger stores",
                   "an amount or a balance past 9,999,999,999,999,999.99"),
    "pending_expired": _c(409, "The hold has expired", "posting or voiding a hold past its expiry"),
    "post_exceeds_pending": _c(422, "Post larger than the hold", "posting more than the hold"),
}  # fmt: skip
STATUS: dict[str, tuple[int, str]] = {k: (c.status, c.title) for k, c in CODES.items()}


def markdown() -> str:
    """docs/errors.md: every code, its HTTP status, when it fires, whether a retry can succeed."""
    lines = [
        "# Error codes",
        "",
        "Every error is `application/problem+json` (RFC 9457) with a stable `code`. This page is",
        "generated from the error table in `service/errors.py` (`python -m service.errors >",
        "docs/errors.md`); a test fails when the two differ.",
        "",
        "| code | HTTP | when | retry |",
        "| --- | --- | --- | --- |",
    ]
    for code, c in CODES.items():
        lines.append(f"| `{code}` | {c.status} | {c.when} | {c.retry} |")
    return "\n".join(lines) + "\n"


def from_ledger(exc: ledger_errors.LedgerError) -> DomainError:
    """A ledger refusal as the service answers it: every ledger code is in the table."""
    return DomainError(exc.code, exc.message)


if __name__ == "__main__":
    print(markdown(), end="")
