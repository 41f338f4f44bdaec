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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

import ledger
from ledger import Resolve
from service.errors import DomainError
from service.flows import deposits, refunds, releases, rounds, successors
from service.flows.instructions import PURPOSES
from service.flows.models import Instruction

FollowUp = Callable[[], None]
Handler = Callable[[Session, Instruction, datetime], FollowUp | None]


@dataclass(frozen=True, kw_only=True)
class Settlement:
    on_executed: Handler
    on_rejected: Handler


SETTLEMENTS: dict[str, Settlement] = {
    "refund": Settlement(on_executed=refunds.on_paid, on_rejected=refunds.on_failed),
    "release": Settlement(on_executed=releases.on_paid, on_rejected=releases.on_rejected),
    "suspense_return": Settlement(
        on_executed=deposits.on_returned, on_rejected=deposits.on_return_rejected
    ),
    "wind_down": Settlement(on_executed=rounds.on_paid, on_rejected=rounds.on_rejected),
    "wind_down_transfer": Settlement(
        on_executed=successors.on_executed, on_rejected=successors.on_rejected
    ),
}


def check_complete() -> None:
    """Every purpose an instruction can have is settled by this table (at start-up)."""
    missing = set(PURPOSES) - set(SETTLEMENTS)
    if missing:
        raise RuntimeError(f"instruction purposes without settlement: {sorted(missing)}")


@dataclass(frozen=True, kw_only=True)
class Result:
    """What the bank reports of one instruction."""

    instruction_id: str
    status: str  # executed | rejected
    bank_txn_id: str
    executed_at: datetime
    reason: str | None


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
    result = Result(
        instruction_id=instruction_id,
        status=status,
        bank_txn_id=bank_txn_id,
        executed_at=executed_at,
        reason=reason,
    )
    out = apply_results(session, bank_id=bank_id, results=[result], now=now)[0]
    if isinstance(out, DomainError):
        raise out
    return out


def apply_results(
    session: Session, *, bank_id: str, results: Sequence[Result], now: datetime
) -> list[Instruction | DomainError]:
    """Several results at once (a replayed day's executions), each settled as `apply_result`
    settles it, in the order given; a refused one is an error in its slot. The instructions
    are locked first (in id order), then each handler's business rows, then the holds of all
    of them resolved in one ledger batch, then the follow-ups: the fixed lock order."""
    ids = sorted({r.instruction_id for r in results})
    locked = {
        i.id: i
        for i in session.scalars(
            select(Instruction)
            .where(Instruction.id.in_(ids))
            .order_by(Instruction.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    out: list[Instruction | DomainError] = []
    ops: list[ledger.Operation] = []
    follow_ups: list[FollowUp] = []
    for r in results:
        ins = locked.get(r.instruction_id)
        try:
            pending = _pending(bank_id, ins, r)
        except DomainError as exc:
            out.append(exc)
            continue
        assert ins is not None  # `_pending` refuses a missing one
        if pending:  # a handler's refusal is the caller's to roll back, as for one result
            _settle(session, ins, r, now, ops, follow_ups)
        out.append(ins)
    ledger.batch(session.connection(), ops, at=now)
    for follow_up in follow_ups:
        follow_up()
    session.flush()
    return out


def _pending(bank_id: str, ins: Instruction | None, r: Result) -> bool:
    """True if the instruction awaits this result; False if it was settled so already."""
    if ins is None or ins.bank_id != bank_id:
        raise DomainError("unknown_instruction", f"no instruction {r.instruction_id} at this bank")
    if ins.status == "pending":
        return True
    if ins.status == r.status and ins.result_bank_txn_id == r.bank_txn_id:
        return False
    raise DomainError(
        "instruction_settled",
        f"instruction {r.instruction_id} is already {ins.status} "
        f"(bank_txn_id {ins.result_bank_txn_id})",
    )


def _settle(
    session: Session,
    ins: Instruction,
    r: Result,
    now: datetime,
    ops: list[ledger.Operation],
    follow_ups: list[FollowUp],
) -> None:
    """Settle one: its holds' resolutions are added to `ops`, its follow-up to `follow_ups`."""
    ins.status, ins.result_bank_txn_id, ins.result_reason = r.status, r.bank_txn_id, r.reason
    ins.executed_at = r.executed_at if r.status == "executed" else None
    ins.result_at = now
    settlement = SETTLEMENTS[ins.purpose]  # complete: checked at start-up
    handler = settlement.on_executed if r.status == "executed" else settlement.on_rejected
    # Business rows first, ledger last: the fixed lock order.
    follow_up = handler(session, ins, now)
    action: Literal["post", "void"] = "post" if r.status == "executed" else "void"
    ops += [Resolve(pending_id=h, action=action) for h in ins.hold_ids]
    if follow_up is not None:
        follow_ups.append(follow_up)
