"""Settlement: what happens in the rest of the service when a bank reports an instruction's
result. One table, from each instruction purpose to its handlers for `executed` and
`rejected`, checked complete when the app starts; a purpose without handlers is an error, never
a silent skip (an executed refund that posted its holds and never updated the refund).

A handler takes its business-row locks and may return a follow-up to run once the
instruction's holds are settled: to move money the settlement freed (a refund the escrow could
not pay is drawn on the reserve), or to count the day's figures, which every use case updates
last (business rows, then the ledger, then the counters: one lock order, or two requests for
one institution deadlock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

import ledger
from ledger import Resolve
from service.errors import DomainError
from service.flows import deposits, refunds, releases
from service.flows.instructions import PURPOSES
from service.flows.models import Instruction

FollowUp = Callable[[], None]
Handler = Callable[[Session, Instruction, datetime], FollowUp | None]


@dataclass(frozen=True)
class Settlement:
    on_executed: Handler
    on_rejected: Handler


SETTLEMENTS: dict[str, Settlement] = {
    "refund": Settlement(refunds.on_paid, refunds.on_failed),
    "release": Settlement(releases.on_paid, releases.on_rejected),
    "suspense_return": Settlement(deposits.on_returned, deposits.on_return_rejected),
}


def check_complete() -> None:
    """Every purpose an instruction can have is settled by this table (at start-up)."""
    missing = set(PURPOSES) - set(SETTLEMENTS)
    if missing:
        raise RuntimeError(f"instruction purposes without settlement: {sorted(missing)}")


def apply_result(
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
    """Settle an instruction once. The same result again is a no-op; a different one is 409."""
    ins = session.get(Instruction, instruction_id, with_for_update=True, populate_existing=True)
    if ins is None or ins.bank_id != bank_id:
        raise DomainError("unknown_instruction", f"no instruction {instruction_id} at this bank")
    if ins.status != "pending":
        if ins.status == status and ins.result_bank_txn_id == bank_txn_id:
            return ins
        raise DomainError(
            "instruction_settled",
            f"instruction {instruction_id} is already {ins.status} "
            f"(bank_txn_id {ins.result_bank_txn_id})",
        )
    ins.status, ins.result_bank_txn_id, ins.result_reason = status, bank_txn_id, reason
    ins.executed_at = executed_at if status == "executed" else None
    ins.result_at = now
    settlement = SETTLEMENTS[ins.purpose]  # complete: checked at start-up
    handler = settlement.on_executed if status == "executed" else settlement.on_rejected
    # Business rows first, ledger last: the fixed lock order.
    follow_up = handler(session, ins, now)
    action: Literal["post", "void"] = "post" if status == "executed" else "void"
    ledger.batch(
        session.connection(), [Resolve(pending_id=h, action=action) for h in ins.hold_ids], at=now
    )
    if follow_up is not None:
        follow_up()
    session.flush()
    return ins
