"""The service's one error type with stable codes, and the one table mapping codes to HTTP.

Domain code raises `DomainError(code, detail)`; routers never build HTTP errors for business
outcomes. Each code's comment says when it fires and whether a retry can succeed.
"""

from __future__ import annotations

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


# code: (HTTP status, title). Retry hints: 409/422 are final for the same request unless the
# title says otherwise; 429 and 503 may succeed later.
STATUS: dict[str, tuple[int, str]] = {
    # transport and validation
    "malformed_json": (400, "The body is not valid JSON"),
    "bad_request": (400, "The request cannot be read"),
    "validation_error": (422, "The request does not match the schema"),
    "not_found": (404, "No such resource"),
    "method_not_allowed": (405, "Method not allowed on this resource"),
    "unsupported_media_type": (415, "Send application/json"),
    "payload_too_large": (413, "The body is too large"),
    "internal_error": (500, "Internal error"),
    "unavailable": (503, "Temporarily unavailable; retry later"),
    # credentials
    "unauthenticated": (401, "Missing or invalid credential"),
    "invalid_signature": (401, "Missing, wrong or stale bank signature"),
    "invalid_access_code": (401, "Enrollment id or access code is wrong"),
    "forbidden": (403, "This credential may not do that"),
    "out_of_region": (403, "Outside the regulator's region"),
    "foreign_account": (403, "The account is not held at this bank"),
    "too_many_attempts": (429, "Too many failed attempts; wait and retry"),
    # idempotency
    "idempotency_conflict": (409, "Idempotency key reused with a different request"),
    "idempotency_in_progress": (409, "A request with this idempotency key is still running"),
    # registry
    "invalid_credit_code": (422, "Invalid unified social credit code"),
    "invalid_region_code": (422, "Unknown administrative division code"),
    "duplicate_credit_code": (409, "An institution with this credit code exists"),
    "duplicate_account": (409, "This escrow account is already registered"),
    "duplicate_bank_code": (409, "A bank with this code exists"),
    "unknown_bank": (422, "No such custody bank"),
    "invalid_state": (409, "Not allowed in the object's current state"),
    "institution_inactive": (409, "The institution is closed or blacklisted"),
    "institution_final": (409, "A closed or blacklisted institution cannot be reactivated"),
    "institution_not_frozen": (409, "The institution is not frozen"),
    "no_reserve": (409, "The institution has no reserve account"),
    "deposit_not_in_suspense": (409, "The deposit is not held in suspense"),
    "deposit_does_not_pay": (409, "The deposit is not what the enrollment awaits"),
    "alert_not_open": (409, "The alert is not open"),
    "alert_resolved": (409, "The alert is already resolved"),
    # fees and enrollments
    "course_not_approved": (422, "The course was not approved"),
    "prepay_over_cap": (422, "Prepayment over the cap"),
    "collected_too_early": (422, "Collection more than one month before the first lesson"),
    "amount_above_filed_price": (422, "Amount above lessons × filed price"),
    "not_enough_sessions": (422, "The course has fewer sessions left than requested"),
    "institution_frozen": (409, "The institution is frozen"),
    "no_guidance_price": (422, "No guidance price applies"),
    # flows
    "exceeds_remaining": (422, "More lessons than remain"),
    "not_funded": (422, "The enrollment is not paid"),
    "occurred_in_future": (422, "A lesson cannot be reported before it happens"),
    "occurred_before_payment": (422, "A lesson cannot be dated before its enrollment was paid"),
    "nothing_to_refund": (422, "Nothing left to refund"),
    "refund_in_progress": (409, "A refund is already in progress"),
    "deposit_above_limit": (422, "A single deposit above the configured maximum"),
    "unknown_instruction": (404, "No such instruction at this bank"),
    "instruction_settled": (409, "The instruction already has another result"),
    "unknown_job": (404, "No such job"),
    "job_not_regional": (403, "This job acts on the whole service; only the scheduler runs it"),
    "as_of_in_future": (422, "as_of is later than now"),
    "as_of_too_old": (422, "as_of is further back than a re-run may reach"),
    # ledger
    "insufficient_funds": (422, "Not enough funds"),
    "exceeds_debits": (422, "Would credit past the debits"),
    "account_not_found": (404, "No such ledger account"),
    "account_closed": (409, "The ledger account is closed"),
    "ledger_mismatch": (422, "Accounts in different ledgers"),
    "invalid_amount": (422, "Invalid amount"),
    "pending_not_found": (404, "No such pending transfer"),
    "pending_already_resolved": (409, "The hold is already resolved"),
    "pending_already_posted": (409, "The hold was already posted"),
    "pending_already_voided": (409, "The hold was already voided"),
    "pending_already_expired": (409, "The hold expired"),
    "void_amount_differs": (422, "A void returns the whole hold"),
    "invalid_expiry": (422, "A hold must expire after it is made"),
    "invalid_code": (422, "Transfer code, reference or key out of bounds"),
    "overflow": (422, "The amount or a balance would exceed what the ledger stores"),
    "pending_expired": (409, "The hold has expired"),
    "post_exceeds_pending": (422, "Post larger than the hold"),
}


def from_ledger(exc: ledger_errors.LedgerError) -> DomainError:
    code = exc.code if exc.code in STATUS else "invalid_state"
    return DomainError(code, exc.message)
