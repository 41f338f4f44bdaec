"""A school on a served app, driven over real HTTP (for tests of requests truly at once):
registered by a regulator, one course filed, enrollments made and paid through the bank's
signed API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from tests import factories
from tests.api.conftest import bearer


@dataclass(frozen=True)
class School:
    key: str
    regulator: str
    bank: factories.BankCred
    escrow: str
    course_id: str

    @classmethod
    def register(cls, c: httpx.Client, engine: Engine, region: str = "220102") -> School:
        bank = factories.bank(engine)
        body = factories.institution_body(bank.id, region=region)
        _, reg = factories.regulator(engine, region)  # its jobs touch no other test's school
        inst = c.post("/api/v1/institutions", json=body, headers=bearer(reg)).json()
        key = inst["api_key"]
        course = c.post(
            "/api/v1/courses", json=factories.course_body(n=40), headers=bearer(key)
        ).json()
        return cls(key, reg, bank, body["escrow_account_no"], course["id"])

    def enroll(self, c: httpx.Client, *, lessons: int) -> dict[str, Any]:
        r = c.post(
            "/api/v1/enrollments",
            headers=bearer(self.key),
            json={"course_id": self.course_id, "student_ref": "s", "lessons": lessons,
                  "amount": f"{20 * lessons}.00"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        return dict(r.json())

    def pay(self, c: httpx.Client, enrollment: dict[str, Any]) -> httpx.Response:
        deposit = {
            "bank_txn_id": f"T{enrollment['id'][-16:]}",
            "account_no": self.escrow,
            "payment_reference": enrollment["payment_reference"],
            "amount": enrollment["amount_due"],
            "paid_at": datetime.now(UTC).isoformat(),
        }
        raw = json.dumps(deposit).encode()
        path = "/api/v1/bank/deposits"
        headers = {**self.bank.headers("POST", path, raw), "content-type": "application/json"}
        return c.post(path, content=raw, headers=headers)

    def report(self, c: httpx.Client, enrollment_id: str, **headers: str) -> httpx.Response:
        """One lesson, now."""
        return c.post(
            f"/api/v1/enrollments/{enrollment_id}/consumptions",
            headers={**bearer(self.key), **headers},
            json={"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()},
        )

    def enroll_and_pay(self, c: httpx.Client, *, lessons: int) -> str:
        return str(self.paid(c, lessons=lessons)["id"])

    def paid(self, c: httpx.Client, *, lessons: int) -> dict[str, Any]:
        enrollment = self.enroll(c, lessons=lessons)
        assert self.pay(c, enrollment).status_code == 201
        return enrollment

    def refund_requested(self, c: httpx.Client, enrollment: dict[str, Any]) -> str:
        """The parent asks for everything back: the refund's id."""
        login = {"enrollment_id": enrollment["id"], "access_code": enrollment["access_code"]}
        token = c.post("/api/v1/parent/sessions", json=login).json()["token"]
        refund = c.post("/api/v1/parent/refunds", headers=bearer(token), json={"reason": "move"})
        assert refund.status_code == 201, refund.text
        return str(refund.json()["id"])

    def accept(self, c: httpx.Client, refund_id: str) -> httpx.Response:
        return c.post(
            f"/api/v1/refunds/{refund_id}/respond",
            headers=bearer(self.key),
            json={"decision": "accept", "reason": "ok"},
        )

    def refund_accepted(self, c: httpx.Client, enrollment: dict[str, Any]) -> None:
        """The parent asks for everything back and the school accepts: a refund instruction
        waits at the bank."""
        answer = self.accept(c, self.refund_requested(c, enrollment))
        assert answer.status_code == 200, answer.text

    def pending_refunds(self, c: httpx.Client) -> list[str]:
        path = "/api/v1/bank/instructions?status=pending&limit=500"
        items = c.get(path, headers=self.bank.headers("GET", path, b"")).json()["items"]
        return [i["id"] for i in items if i["kind"] == "refund" and i["account_no"] == self.escrow]

    def execute(self, c: httpx.Client, instruction_id: str) -> httpx.Response:
        result = {"status": "executed", "bank_txn_id": f"P{instruction_id[-16:]}",
                  "executed_at": datetime.now(UTC).isoformat(), "reason": None}  # fmt: skip
        raw = json.dumps(result).encode()
        path = f"/api/v1/bank/instructions/{instruction_id}/result"
        headers = {**self.bank.headers("POST", path, raw), "content-type": "application/json"}
        return c.post(path, content=raw, headers=headers)
