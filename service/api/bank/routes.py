"""Custody bank endpoints: HMAC-signed, idempotent on their natural keys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.auth import BankDep
from service.api.deps import NowDep, PageDep, SessionDep, SettingsDep, page_of
from service.errors import DomainError
from service.flows import deposits, instructions, statements
from service.flows.models import Instruction
from service.flows.schemas import DepositBatchBody, DepositBody, ResultBody, StatementBody

router = APIRouter(prefix="/bank", tags=["bank"])


@router.get("/whoami")
def whoami(bank: BankDep) -> dict[str, Any]:
    """A signed no-op: lets a bank check its signing before it sends money messages."""
    return {"bank_id": bank.id, "name": bank.name, "code": bank.code}


def _deposit_in(body: DepositBody) -> deposits.DepositIn:
    return deposits.DepositIn(
        body.bank_txn_id, body.account_no, body.payment_reference, body.amount, body.paid_at
    )


@router.post("/deposits", status_code=201, responses={202: {"description": "held in suspense"}})
def post_deposit(
    body: DepositBody, bank: BankDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> JSONResponse:
    status, out = deposits.receive(
        session,
        bank=bank,
        data=_deposit_in(body),
        now=now,
        limit=settings.max_deposit_amount,
    )
    return JSONResponse(out, status_code=status)


@router.post("/deposits/batch")
def post_deposits(
    body: DepositBatchBody, bank: BankDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> JSONResponse:
    """Up to 1,000 deposits in one transaction. Each gets the answer it would get alone; a
    deposit refused on its own (foreign account, conflicting replay) is reported in its slot
    and changes nothing."""
    outcomes = deposits.receive_many(
        session,
        bank=bank,
        items=[_deposit_in(d) for d in body.deposits],
        now=now,
        limit=settings.max_deposit_amount,
    )
    results: list[dict[str, Any]] = []
    for outcome in outcomes:
        if isinstance(outcome, DomainError):
            results.append({"status": "error", "code": outcome.code, "detail": outcome.detail})
        else:
            status, out = outcome
            results.append({**out, "http_status": status})
    # Encoded as it is (plain strings and ints): FastAPI's generic encoder would walk a
    # thousand results again at ten times json's cost.
    return JSONResponse({"results": results})


@router.get("/instructions")
def list_instructions(
    bank: BankDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["pending", "executed", "rejected"] | None, Query()] = "pending",
) -> dict[str, Any]:
    stmt = select(Instruction).where(Instruction.bank_id == bank.id)
    if status is not None:
        stmt = stmt.where(Instruction.status == status)
    return page_of(session, stmt, Instruction.id, page, instructions.wire)


@router.post("/instructions/{instruction_id}/result")
def post_result(
    instruction_id: str, body: ResultBody, bank: BankDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    ins = instructions.apply_result(
        session,
        bank_id=bank.id,
        instruction_id=instruction_id,
        status=body.status,
        bank_txn_id=body.bank_txn_id,
        executed_at=body.executed_at,
        reason=body.reason,
        now=now,
    )
    return instructions.wire(ins)


@router.post("/statements")
def post_statement(
    body: StatementBody, bank: BankDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    data = statements.StatementIn(
        account_no=body.account_no,
        statement_date=body.statement_date,
        opening_balance=body.opening_balance,
        closing_balance=body.closing_balance,
        transactions=tuple(
            statements.Line(t.bank_txn_id, t.direction, t.amount, t.booked_at)
            for t in body.transactions
        ),
    )
    return statements.reconcile(session, bank=bank, data=data, now=now)


def deliver_later(request: Request, tasks: BackgroundTasks) -> None:
    """Push new instructions once the response (and so the commit) is done."""
    from service.bank_gateway.delivery import deliver_pending

    tasks.add_task(
        deliver_pending,
        request.app.state.sessions,
        settings=request.app.state.settings,
        clock=request.app.state.clock,
    )
