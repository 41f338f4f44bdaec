"""`tuitionguard bank-sim`: a small custody bank for demos and end-to-end tests.

It keeps real balances for the supervised accounts it is told about, reports parents'
payments to the service as signed deposits, receives the service's instructions (verifying
their signatures), executes or rejects them against the balance, calls the result back signed,
and produces daily statements. Misbehaviour is configurable, to test the service against a
bank that answers 500, times out, calls back twice or out of order.

Given a state file (`make run` gives `bank-sim.json`), it keeps its accounts, bookings and
instructions there, written after every change, and reads them back when it starts: a bank
does not forget its customers' money when it restarts. `tuitionguard demo seed` opens the demo
institutions' accounts in that file at the balances the demo's history left them
(`open_accounts`), so a refund or a release the demo instructs is paid, not refused.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from service.bank_gateway.signing import signed_headers, verify
from service.kit.clock import SHANGHAI

log = logging.getLogger("tuitionguard.banksim")


@dataclass
class Behaviour:
    reject_rate: float = 0.0  # share of instructions rejected at random
    error_rate: float = 0.0  # share of instruction pushes answered 500
    timeout_rate: float = 0.0  # share of pushes answered only after `hang_seconds`
    hang_seconds: float = 3.0
    delay_seconds: float = 0.0  # before executing an instruction
    duplicate_callbacks: bool = False  # send every result twice
    shuffle_callbacks: bool = False  # send results in random order, with random delays
    reject_next: int = 0  # reject the next N instructions whatever the balance
    fail_next_pushes: int = 0  # answer the next N pushes with 500
    hang_next_pushes: int = 0  # answer the next N pushes only after hang_seconds


@dataclass
class Txn:
    bank_txn_id: str
    account_no: str
    direction: str  # credit | debit
    amount: Decimal
    booked_at: datetime


@dataclass
class Bank:
    bank_id: str
    secret: str
    service_url: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    balances: dict[str, Decimal] = field(default_factory=dict)
    txns: list[Txn] = field(default_factory=list)
    instructions: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # id → instruction + result
    pushes_received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    state_path: str | None = None  # where the books are kept across restarts, if anywhere

    def __post_init__(self) -> None:
        if self.state_path is None:
            return
        state = read_state(self.state_path)
        self.balances = {k: Decimal(v) for k, v in state.get("balances", {}).items()}
        self.txns = [
            Txn(t["bank_txn_id"], t["account_no"], t["direction"], Decimal(t["amount"]),
                datetime.fromisoformat(t["booked_at"]))
            for t in state.get("txns", [])
        ]  # fmt: skip
        self.instructions = dict(state.get("instructions", {}))

    def save(self) -> None:
        """Write the books to the state file (the caller holds the lock)."""
        if self.state_path is None:
            return
        txns = [
            {"bank_txn_id": t.bank_txn_id, "account_no": t.account_no, "direction": t.direction,
             "amount": f"{t.amount:.2f}", "booked_at": t.booked_at.isoformat()}
            for t in self.txns
        ]  # fmt: skip
        balances = {k: f"{v:.2f}" for k, v in self.balances.items()}
        _write_state(
            self.state_path,
            {"balances": balances, "txns": txns, "instructions": self.instructions},
        )

    def _signed_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = signed_headers(
            self.secret,
            bank_id=self.bank_id,
            timestamp=int(time.time()),
            method="POST",
            path_and_query=path,
            body=raw,
        )
        headers["content-type"] = "application/json"
        with httpx.Client(timeout=10) as client:
            return client.post(self.service_url + path, content=raw, headers=headers)

    def _signed_get(self, path: str) -> httpx.Response:
        headers = signed_headers(
            self.secret,
            bank_id=self.bank_id,
            timestamp=int(time.time()),
            method="GET",
            path_and_query=path,
            body=b"",
        )
        with httpx.Client(timeout=10) as client:
            return client.get(self.service_url + path, headers=headers)

    def pay(
        self,
        account_no: str,
        payment_reference: str,
        amount: Decimal,
        bank_txn_id: str | None = None,
    ) -> dict[str, Any]:
        """A parent pays at the counter: credit the account, report the deposit."""
        txn = bank_txn_id or "D" + uuid.uuid4().hex[:16]
        now = datetime.now(UTC)
        with self.lock:
            if not any(t.bank_txn_id == txn for t in self.txns):
                self.balances[account_no] = self.balances.get(account_no, Decimal("0.00")) + amount
                self.txns.append(Txn(txn, account_no, "credit", amount, now))
                self.save()
        resp = self._signed_post(
            "/api/v1/bank/deposits",
            {
                "bank_txn_id": txn,
                "account_no": account_no,
                "payment_reference": payment_reference,
                "amount": f"{amount:.2f}",
                "paid_at": now.isoformat(),
            },
        )
        return {"bank_txn_id": txn, "status_code": resp.status_code, "answer": resp.json()}

    def debit_without_instruction(self, account_no: str, amount: Decimal) -> str:
        """Money leaves escrow with nothing behind it: what a fleeing owner does."""
        txn = "X" + uuid.uuid4().hex[:16]
        with self.lock:
            self.balances[account_no] = self.balances.get(account_no, Decimal("0.00")) - amount
            self.txns.append(Txn(txn, account_no, "debit", amount, datetime.now(UTC)))
            self.save()
        return txn

    def receive(self, instruction: dict[str, Any]) -> None:
        with self.lock:
            if instruction["id"] in self.instructions:  # a retry: we have it already
                return
            self.instructions[instruction["id"]] = {**instruction, "result": None}
            self.save()
        threading.Thread(target=self._execute, args=(instruction["id"],), daemon=True).start()

    def _execute(self, instruction_id: str) -> None:
        b = self.behaviour
        if b.delay_seconds:
            time.sleep(b.delay_seconds)
        if b.shuffle_callbacks:
            time.sleep(self.rng.uniform(0, 0.5))
        with self.lock:
            ins = self.instructions[instruction_id]
            if ins["result"] is not None:
                return
            amount = Decimal(ins["amount"])
            account = ins["account_no"]
            reject = None
            if b.reject_next > 0:
                b.reject_next -= 1
                reject = "rejected by the bank (test)"
            elif self.rng.random() < b.reject_rate:
                reject = "rejected by the bank (random)"
            elif self.balances.get(account, Decimal("0.00")) < amount:
                reject = "insufficient funds in the supervised account"
            txn = "I" + uuid.uuid4().hex[:16]
            now = datetime.now(UTC)
            if reject is None:
                self.balances[account] -= amount
                self.txns.append(Txn(txn, account, "debit", amount, now))
                self._credit_transfer(ins, txn, amount, now)
            ins["result"] = {
                "status": "rejected" if reject else "executed",
                "bank_txn_id": txn,
                "executed_at": now.isoformat(),
                "reason": reject,
            }
            self.save()
        self.callback(instruction_id)
        if b.duplicate_callbacks:
            self.callback(instruction_id)

    def _credit_transfer(
        self, ins: dict[str, Any], txn: str, amount: Decimal, now: datetime
    ) -> None:
        """A transfer (a wound-up school's claim moved to a successor) between two accounts
        of this bank: the payee's account is credited under the same transaction id, which
        the service books as the deposit into the successor's escrow; the bank reports no
        deposit of its own for it (the caller holds the lock)."""
        payee = ins.get("payee") or {}
        if ins.get("kind") != "transfer" or not payee.get("account_no"):
            return
        to = str(payee["account_no"])
        self.balances[to] = self.balances.get(to, Decimal("0.00")) + amount
        self.txns.append(Txn(txn, to, "credit", amount, now))

    def callback(self, instruction_id: str) -> int:
        result = self.instructions[instruction_id]["result"]
        for attempt in range(5):
            try:
                resp = self._signed_post(
                    f"/api/v1/bank/instructions/{instruction_id}/result", result
                )
                if resp.status_code < 500:
                    return resp.status_code
            except httpx.HTTPError:
                pass
            time.sleep(0.2 * 2**attempt)
        return 0

    def pull(self) -> int:
        """Fetch pending instructions the push may have missed."""
        resp = self._signed_get("/api/v1/bank/instructions?status=pending&limit=500")
        items = resp.json()["items"]
        for ins in items:
            self.receive(ins)
        return len(items)

    def statement(self, account_no: str, day: date) -> dict[str, Any]:
        with self.lock:
            on_day = [
                t
                for t in self.txns
                if t.account_no == account_no and t.booked_at.astimezone(SHANGHAI).date() == day
            ]
            after = [
                t
                for t in self.txns
                if t.account_no == account_no and t.booked_at.astimezone(SHANGHAI).date() > day
            ]
            closing = self.balances.get(account_no, Decimal("0.00"))
            for t in after:  # roll back what happened after the statement day
                closing += -t.amount if t.direction == "credit" else t.amount
            opening = closing
            for t in on_day:
                opening += -t.amount if t.direction == "credit" else t.amount
        body = {
            "account_no": account_no,
            "statement_date": day.isoformat(),
            "opening_balance": f"{opening:.2f}",
            "closing_balance": f"{closing:.2f}",
            "transactions": [
                {
                    "bank_txn_id": t.bank_txn_id,
                    "direction": t.direction,
                    "amount": f"{t.amount:.2f}",
                    "booked_at": t.booked_at.isoformat(),
                }
                for t in on_day
            ],
        }
        resp = self._signed_post("/api/v1/bank/statements", body)
        answer: dict[str, Any] = resp.json()
        return answer


def create_app(bank: Bank, *, window: int = 300) -> FastAPI:
    app = FastAPI(title="TuitionGuard bank simulator")
    app.state.bank = bank

    @app.post("/instructions")
    async def instructions(request: Request) -> JSONResponse:
        body = await request.body()
        ok = verify(
            bank.secret,
            timestamp=request.headers.get("x-timestamp", ""),
            method="POST",
            path_and_query=request.url.path,
            body=body,
            given=request.headers.get("x-signature", ""),
            now=int(time.time()),
            window=window,
        )
        if not ok or request.headers.get("x-bank-id") != bank.bank_id:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        b = bank.behaviour
        bank.pushes_received += 1
        if b.fail_next_pushes > 0 or bank.rng.random() < b.error_rate:
            b.fail_next_pushes = max(0, b.fail_next_pushes - 1)
            return JSONResponse({"error": "internal"}, status_code=500)
        if b.hang_next_pushes > 0 or bank.rng.random() < b.timeout_rate:
            b.hang_next_pushes = max(0, b.hang_next_pushes - 1)
            import asyncio

            await asyncio.sleep(b.hang_seconds)
        bank.receive(json.loads(body))
        return JSONResponse({"status": "accepted"}, status_code=202)

    @app.post("/sim/accounts")
    def open_account(body: dict[str, Any]) -> dict[str, Any]:
        with bank.lock:
            bank.balances.setdefault(body["account_no"], Decimal("0.00"))
            bank.save()
        return {"account_no": body["account_no"]}

    @app.get("/sim/accounts")
    def accounts() -> dict[str, str]:
        return {k: f"{v:.2f}" for k, v in bank.balances.items()}

    @app.post("/sim/pay")
    def pay(body: dict[str, Any]) -> dict[str, Any]:
        return bank.pay(
            body["account_no"],
            body["payment_reference"],
            Decimal(body["amount"]),
            body.get("bank_txn_id"),
        )

    @app.post("/sim/debit")
    def debit(body: dict[str, Any]) -> dict[str, Any]:
        return {
            "bank_txn_id": bank.debit_without_instruction(
                body["account_no"], Decimal(body["amount"])
            )
        }

    @app.post("/sim/behaviour")
    def behaviour(body: dict[str, Any]) -> dict[str, Any]:
        for k, v in body.items():
            if hasattr(bank.behaviour, k):
                setattr(bank.behaviour, k, v)
        return bank.behaviour.__dict__

    @app.post("/sim/pull")
    def pull() -> dict[str, int]:
        return {"pulled": bank.pull()}

    @app.post("/sim/statements")
    def statements(body: dict[str, Any]) -> dict[str, Any]:
        day = date.fromisoformat(body["date"])
        return {acc: bank.statement(acc, day) for acc in body.get("accounts", list(bank.balances))}

    @app.get("/sim/instructions")
    def list_instructions() -> dict[str, Any]:
        return {"items": list(bank.instructions.values()), "pushes_received": bank.pushes_received}

    return app


def read_state(path: str) -> dict[str, Any]:
    """The books kept in a state file; none if there is no file yet."""
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: str, state: dict[str, Any]) -> None:
    """Whole or not at all: a simulator stopped mid-write leaves the previous books."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False)
    os.replace(tmp, path)


def open_accounts(path: str, balances: dict[str, Decimal], *, fresh: bool) -> None:
    """Open these accounts at these balances in the state file of the simulator to come.
    `fresh` (a new demo region) starts the books anew; otherwise an account the books hold
    keeps what the simulator made of it since, and only accounts it lacks are opened."""
    state = {} if fresh else read_state(path)
    kept = state.setdefault("balances", {})
    for account, balance in balances.items():
        kept.setdefault(account, f"{balance:.2f}")
    _write_state(path, state)
