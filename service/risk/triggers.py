"""Risk evaluated when it happens, not only at night: a bank's result or statement that shows
a warning sign re-evaluates that institution at once, in the request that brought it.

The evaluation runs in a savepoint after the event is recorded: if it fails, the event still
commits (the bank's message is acknowledged and kept) and the nightly sweep, which reads the
same recorded facts, evaluates it then. Nothing is lost; only the alert waits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.flows import settlement, statements, winddowns
from service.flows.models import Instruction, WindDown
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
    """Settle a bank's result (`results_applied` of one); a refused one is raised."""
    result = settlement.Result(
        instruction_id=instruction_id, status=status, bank_txn_id=bank_txn_id,
        executed_at=executed_at, reason=reason,
    )  # fmt: skip
    out = results_applied(session, bank_id=bank_id, results=[result], now=now)[0]
    if isinstance(out, DomainError):
        raise out
    return out


def results_applied(
    session: Session, *, bank_id: str, results: Sequence[settlement.Result], now: datetime
) -> list[Instruction | DomainError]:
    """Settle a bank's results (the API's one, a replayed day's file); each institution with a
    refund or release rejected is re-evaluated, once (a replayed result again too, which is
    harmless: the evaluation is of the same facts). A refused result is an error in its slot."""
    out = settlement.apply_results(session, bank_id=bank_id, results=results, now=now)
    rejected: dict[str, Instruction] = {}
    for ins in out:
        if isinstance(ins, Instruction) and ins.status == "rejected":
            rejected.setdefault(ins.institution_id, ins)
    for inst_id, ins in rejected.items():
        reevaluate(session, inst_id, now=now, why=f"{ins.purpose} rejected")
    return out


def statement_reconciled(
    session: Session, *, bank: Bank, data: statements.StatementIn, now: datetime
) -> statements.Reconciled:
    """Reconcile a statement (`statements_reconciled` of one); a refused one is raised."""
    out = statements_reconciled(session, bank=bank, items=[data], now=now)[0]
    if isinstance(out, DomainError):
        raise out
    return out


def statements_reconciled(
    session: Session, *, bank: Bank, items: Sequence[statements.StatementIn], now: datetime
) -> list[statements.Reconciled | DomainError]:
    """Reconcile a bank's statements (the API's one, a replayed day's file); each institution
    whose statement shows a warning sign is re-evaluated, once."""
    out = statements.reconcile_many(session, bank=bank, items=items, now=now)
    alarming = [
        r.statement.institution_id
        for r in out
        if isinstance(r, statements.Reconciled)
        and any(_alarming(b.kind, b.direction) for b in r.breaks)
    ]
    for inst_id in dict.fromkeys(alarming):
        reevaluate(session, inst_id, now=now, why="statement breaks")
    return out


def _alarming(kind: str, direction: str | None) -> bool:
    return kind in ALARMING_BREAKS or (kind == "missing_in_ledger" and direction == "debit")


def wind_down_opened(session: Session, wd: WindDown, now: datetime) -> None:
    """A wind-down is the failure itself: its institution is judged by it at once (critical,
    the wind-down its evidence), not at the next night's sweep."""
    reevaluate(session, wd.institution_id, now=now, why="wind-down opened")


if wind_down_opened not in winddowns.OPENED:
    winddowns.OPENED.append(wind_down_opened)
