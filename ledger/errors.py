"""The ledger's typed errors. Each has a stable `code`; the docstring says when it fires and
whether retrying the same call can succeed."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every expected refusal by the ledger."""

    code = "ledger_error"
    retryable = False

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index  # position in a batch, when the refusal is about one transfer


class AccountNotFound(LedgerError):
    """An account id does not exist. Final."""

    code = "account_not_found"


class AccountClosed(LedgerError):
    """The account is closed and takes no new transfers. Final."""

    code = "account_closed"


class LedgerMismatch(LedgerError):
    """Debit and credit accounts belong to different ledgers, or are the same account. Final."""

    code = "ledger_mismatch"


class InvalidAmount(LedgerError):
    """The amount is not positive, not finite, or has more than two decimals. Final."""

    code = "invalid_amount"


class ExceedsCredits(LedgerError):
    """A debit would take a `debits_must_not_exceed_credits` account past its credits (posted
    credits against posted plus pending debits). Retry can succeed once funds arrive or holds
    are voided."""

    code = "insufficient_funds"
    retryable = True


class ExceedsDebits(LedgerError):
    """A credit would take a `credits_must_not_exceed_debits` account past its debits.
    Retry can succeed once the account is debited or holds are voided."""

    code = "exceeds_debits"
    retryable = True


class PendingNotFound(LedgerError):
    """The transfer to post or void does not exist or is not pending. Final."""

    code = "pending_not_found"


class PendingAlreadyResolved(LedgerError):
    """The pending transfer was already resolved: it resolves once. Final. The subclasses say
    how it was resolved, so a caller can tell where the money went."""

    code = "pending_already_resolved"


class PendingAlreadyPosted(PendingAlreadyResolved):
    """The hold was already posted: its amount went to the credit account. Final."""

    code = "pending_already_posted"


class PendingAlreadyVoided(PendingAlreadyResolved):
    """The hold was already voided: its amount returned to the debit account. Final."""

    code = "pending_already_voided"


class PendingAlreadyExpired(PendingAlreadyResolved):
    """The hold expired (its amount returned to the debit account) before this resolution.
    Final."""

    code = "pending_already_expired"


class PendingExpired(LedgerError):
    """The pending transfer's timeout has passed; it can only be expired. Final."""

    code = "pending_expired"


class PostExceedsPending(LedgerError):
    """A post asks for more than the pending amount. Final."""

    code = "post_exceeds_pending"


class VoidAmountDiffers(LedgerError):
    """A void names an amount other than the hold's: a void always returns the whole hold
    (TigerBeetle's rule); to keep part, post that part. Final."""

    code = "void_amount_differs"


class InvalidExpiry(LedgerError):
    """A hold's `expires_at` is not after the instant it is made at (it would be born expired,
    its money reserved until the expiry job runs and never postable), or a single-phase
    transfer names an expiry. Final."""

    code = "invalid_expiry"


class InvalidCode(LedgerError):
    """A transfer's `code` is empty, longer than 32 characters or holds control characters,
    or a `reference` or `idempotency_key` is longer than 128 characters. Final."""

    code = "invalid_code"


class Overflow(LedgerError):
    """The amount, or a balance it would make, exceeds what the ledger stores
    (9,999,999,999,999,999.99 yuan, NUMERIC(18,2)). Refused before anything is written, the
    same on every database. Final."""

    code = "overflow"


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before for a transfer with other content. Final."""

    code = "idempotency_conflict"


class LedgerCorrupted(Exception):
    """An invariant the database should have made impossible is broken: a bug, never expected.
    Not a LedgerError on purpose, so that nobody catches it as a business outcome."""
