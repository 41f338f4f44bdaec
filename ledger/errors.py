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
    """The pending transfer was already posted, voided or expired: it resolves once. Final."""

    code = "pending_already_resolved"


class PendingExpired(LedgerError):
    """The pending transfer's timeout has passed; it can only be expired. Final."""

    code = "pending_expired"


class PostExceedsPending(LedgerError):
    """A post asks for more than the pending amount. Final."""

    code = "post_exceeds_pending"


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before for a transfer with other content. Final."""

    code = "idempotency_conflict"


class LedgerCorrupted(Exception):
    """An invariant the database should have made impossible is broken: a bug, never expected.
    Not a LedgerError on purpose, so that nobody catches it as a business outcome."""
