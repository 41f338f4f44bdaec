"""Risk evaluated when it happens, not only at night: a bank's result or statement that shows
a warning sign re-evaluates that institution at once, in the request that brought it.

The evaluation runs in a savepoint after the event is recorded: if it fails, the event still
commits (the bank's message is acknowledged and kept) and the nightly sweep, which reads the
same recorded facts, evaluates it then. Nothing is lost; only the alert waits."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from service.flows import settlement, statements
from service.flows.models import Instruction
from service.registry.models import Bank
from service.risk.sweep import sweep

log = logging.getLogger(__name__)

# The breaks that are warning signs: money left escrow with no instruction, or the bank holds
# less (or other) than the ledger says. A deposit missing from the day's statement is the
# bank's bookkeeping lag, not the institution's risk.
ALARMING_BREAKS = frozenset({"balance_differs", "amount_differs"})


def reevaluate(session: Session, institution_id: str, *, now: datetime, why: str) -> None:
    """Evaluate one institution as of now; on failure log and leave it to the nightly sweep."""
    try:
        with session.begin_nested():
            sweep(session, as_of=now, now=now, institution_ids=[institution_id])
    except Exception:  # the event is recorded; its evaluation must not lose it
        log.exception("risk re-evaluation of %s after %s failed", institution_id, why)


def result_applied(
    session: Session,
    *,
    bank_id: str,
    instruction_id: str,
    status: str,
    bank_txn_id: str,
    executed_at: datetime,
    reason: str | None,
    now: datetime,
) -> Instruction:
    """Settle a bank's result; a rejected refund or release re-evaluates its institution (a
    replayed result again, which is harmless: the evaluation is of the same facts)."""
    ins = settlement.apply_result(
        session, bank_id=bank_id, instruction_id=instruction_id, status=status,
        bank_txn_id=bank_txn_id, executed_at=executed_at, reason=reason, now=now,
    )  # fmt: skip
    if ins.status == "rejected":
        reevaluate(session, ins.institution_id, now=now, why=f"{ins.purpose} rejected")
    return ins


def statement_reconciled(
    session: Session, *, bank: Bank, data: statements.StatementIn, now: datetime
) -> statements.Reconciled:
    """Reconcile a statement; one that shows a warning sign re-evaluates its institution."""
    out = statements.reconcile(session, bank=bank, data=data, now=now)
    if any(_alarming(b.kind, b.direction) for b in out.breaks):
        reevaluate(session, out.statement.institution_id, now=now, why="statement breaks")
    return out


def _alarming(kind: str, direction: str | None) -> bool:
    return kind in ALARMING_BREAKS or (kind == "missing_in_ledger" and direction == "debit")
