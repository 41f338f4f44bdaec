"""Custody bank endpoints: HMAC-signed, idempotent on their natural keys."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Response

from service.api.auth import BankDep
from service.api.bank.schemas import (
    DepositBatchIn,
    DepositBatchRead,
    DepositIn,
    DepositRead,
    ResultIn,
    StatementIn,
    StatementRead,
    WhoAmIRead,
)
from service.api.deps import NowDep, PageDep, SessionDep, SettingsDep, page_of
from service.api.schemas import Page
from service.bank_gateway.messages import InstructionMessage
from service.errors import DomainError
from service.flows import deposits, instructions, statements
from service.kit.db import collector_paused
from service.risk import triggers

router = APIRouter(prefix="/bank", tags=["bank"])


@router.get("/whoami", response_model=WhoAmIRead)
def whoami(bank: BankDep) -> WhoAmIRead:
    """A signed no-op: lets a bank check its signing before it sends money messages."""
    return WhoAmIRead(bank_id=bank.id, name=bank.name, code=bank.code)


@router.post(
    "/deposits",
    status_code=201,
    response_model=DepositRead,
    responses={202: {"model": DepositRead, "description": "held in suspense"}},
)
def post_deposit(
    body: DepositIn,
    bank: BankDep,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    response: Response,
) -> DepositRead:
    answer = deposits.receive(
        session, bank=bank, data=body, now=now, limit=settings.max_deposit_amount
    )
    response.status_code = 201 if answer.status == "posted" else 202
    return DepositRead.of(answer)


# What a single deposit's answer may say (`DepositRead`'s literals). A batch's slots are plain
# dicts, encoded at once by `json.dumps` as `DepositBatchRead` dumps them (every field, in its
# order; tests/unit/test_batch_answer.py checks the two agree): validating a thousand slots
# into models and dumping them cost 7 % of the request's CPU, for the same body. The reason,
# a plain text there, is checked here against what `DepositRead` allows.
_REASONS = frozenset(get_args(get_args(DepositRead.model_fields["reason"].annotation)[0]))


def _result(outcome: deposits.Outcome) -> dict[str, Any]:
    if isinstance(outcome, DomainError):
        return {"status": "error", "deposit_id": None, "enrollment_id": None, "reason": None,
                "http_status": None, "code": outcome.code, "detail": outcome.detail}  # fmt: skip
    if outcome.reason is not None and outcome.reason not in _REASONS:
        raise ValueError(f"no deposit is held in suspense for {outcome.reason!r}")
    return {
        "status": outcome.status,
        "deposit_id": outcome.deposit_id,
        "enrollment_id": outcome.enrollment_id,
        "reason": outcome.reason,
        "http_status": 201 if outcome.status == "posted" else 202,
        "code": None,
        "detail": None,
    }


def batch_answer(outcomes: list[deposits.Outcome]) -> Response:
    """The batch's `DepositBatchRead`, encoded. ASCII (non-ASCII escaped): the same JSON, and
    no text the bank sent can make it unencodable."""
    body = json.dumps({"results": [_result(o) for o in outcomes]}, separators=(",", ":"))
    return Response(body.encode(), media_type="application/json")


@router.post("/deposits/batch", response_model=DepositBatchRead)
def post_deposits(
    body: DepositBatchIn, bank: BankDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> Response:
    """Up to 1,000 deposits in one transaction. Each gets the answer it would get alone; a
    deposit refused on its own (foreign account, conflicting replay, over the limit) is
    reported in its slot and changes nothing."""
    # Tens of thousands of objects a batch, none in a cycle: the collector, run every 700
    # allocations, would walk them again and again (about 4 ms of a batch's Python).
    with collector_paused():
        outcomes = deposits.receive_many(
            session,
            bank=bank,
            items=body.deposits,  # each as validated: what the flow reads of a deposit
            now=now,
            limit=settings.max_deposit_amount,
        )
        return batch_answer(outcomes)  # documented as `DepositBatchRead`


@router.get("/instructions", response_model=Page[InstructionMessage])
def list_instructions(
    bank: BankDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["pending", "executed", "rejected"] | None, Query()] = "pending",
) -> Page[InstructionMessage]:
    paged = instructions.of_bank(session, bank_id=bank.id, status=status, paging=page)
    return page_of(paged, InstructionMessage.of)


@router.post("/instructions/{instruction_id}/result", response_model=InstructionMessage)
def post_result(
    instruction_id: str, body: ResultIn, bank: BankDep, session: SessionDep, now: NowDep
) -> InstructionMessage:
    ins = triggers.result_applied(
        session,
        bank_id=bank.id,
        instruction_id=instruction_id,
        status=body.status,
        bank_txn_id=body.bank_txn_id,
        executed_at=body.executed_at,
        reason=body.reason,
        now=now,
    )
    return InstructionMessage.of(ins)


@router.post("/statements", response_model=StatementRead)
def post_statement(
    body: StatementIn, bank: BankDep, session: SessionDep, now: NowDep
) -> StatementRead:
    data = statements.StatementIn(
        account_no=body.account_no,
        statement_date=body.statement_date,
        opening_balance=body.opening_balance,
        closing_balance=body.closing_balance,
        transactions=tuple(
            statements.Line(
                bank_txn_id=t.bank_txn_id,
                direction=t.direction,
                amount=t.amount,
                booked_at=t.booked_at,
            )
            for t in body.transactions
        ),
    )
    return StatementRead.of(triggers.statement_reconciled(session, bank=bank, data=data, now=now))
