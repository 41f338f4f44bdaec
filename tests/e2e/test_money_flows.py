"""End to end on PostgreSQL: the service and the bank simulator as real processes on
127.0.0.1, every flow driven through HTTP, a misbehaving bank, and at the end the books
verified, balanced, and equal to the bank's balance to the fen."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.bank_gateway.signing import signed_headers
from tests import factories
from tests.api.approving import approve_over_http, sign_in_over_http
from tests.conftest import create_pg_database, drop_pg_database
from tests.processes import cli, free_port, start, wait_until

SECRET_KEY = "e2e-secret-key-0123456789"


@dataclass
class Stack:
    api: httpx.Client
    sim: httpx.Client
    bank_id: str
    secret: str
    regulator: str
    logs: Path
    chief: str  # a supervisor of the regulator's office: approves its four-eyes requests
    issued: list[str] = field(default_factory=list)  # every credential handed out in the run

    def assert_logs_keep_no_secret(self) -> None:
        """No token, key, access code or secret anywhere in the processes' logs."""
        text = "".join(p.read_text(errors="replace") for p in self.logs.glob("*.log"))
        assert len(text) > 1000  # the logs were written (INFO: every request)
        leaked = [s[:6] + "…" for s in {self.secret, self.regulator, *self.issued} if s in text]
        assert leaked == []

    def bank_post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body).encode()
        headers = signed_headers(
            self.secret,
            bank_id=self.bank_id,
            timestamp=int(time.time()),
            method="POST",
            path_and_query=path,
            body=raw,
        )
        return self.api.post(
            path, content=raw, headers={**headers, "content-type": "application/json"}
        )

    def pending(self) -> list[dict[str, Any]]:
        path = "/api/v1/bank/instructions?status=pending&limit=500"
        headers = signed_headers(
            self.secret,
            bank_id=self.bank_id,
            timestamp=int(time.time()),
            method="GET",
            path_and_query=path,
            body=b"",
        )
        return list(self.api.get(path, headers=headers).json()["items"])

    def settle(self, timeout: float = 40) -> None:
        """Wait until the bank has settled every instruction (pushing retries if needed)."""

        def done() -> bool:
            if not self.pending():
                return True
            self.api.post(
                "/api/v1/jobs/instruction_delivery/run", json={}, headers=self.reg_headers
            )
            return False

        wait_until(done, timeout, "instructions to settle")

    @property
    def reg_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.regulator}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = create_pg_database()
    logs = tmp_path_factory.mktemp("e2e")
    api_port, sim_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET_KEY,
        "LOG_SIGNING_KEY": "ab" * 32,
        "BANK_TIMEOUT_SECONDS": "1",
        "BANK_MAX_ATTEMPTS": "4",
        "BANK_BACKOFF_BASE_SECONDS": "0.05",
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "INFO",  # every request logged: what the secrets test reads
    }
    cli(env, "migrate")
    regulator = cli(env, "regulator", "create", "--name", "Jilin", "--region", "220000")
    bank = json.loads(
        cli(
            env,
            "bank",
            "create",
            "--name",
            "Sim Bank",
            "--code",
            "SIM",
            "--instruction-url",
            f"http://127.0.0.1:{sim_port}/instructions",
        )
    )
    # Two worker processes, as production runs it: every flow below crosses processes.
    api = start(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--port",
            str(api_port),
            "--no-scheduler",
            "--workers",
            "2",
        ],
        env,
        str(logs / "api.log"),
    )
    sim = start(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "bank-sim",
            "--port",
            str(sim_port),
            "--service-url",
            f"http://127.0.0.1:{api_port}",
            "--bank-id",
            bank["bank_id"],
            "--secret",
            bank["secret"],
        ],
        env,
        str(logs / "sim.log"),
    )
    api_client = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30)
    sim_client = httpx.Client(base_url=f"http://127.0.0.1:{sim_port}", timeout=30)
    try:
        wait_until(lambda: api_client.get("/readyz").status_code == 200, 60, "the API")
        wait_until(
            lambda: sim_client.get("/sim/accounts").status_code == 200, 30, "the bank simulator"
        )
        chief = json.loads(cli(env, "officer", "create", "--region", "220000", "--name", "Chief",
                               "--role", "supervisor"))  # fmt: skip
        chief_token = sign_in_over_http(api_client, chief)
        yield Stack(api_client, sim_client, bank["bank_id"], bank["secret"], regulator, logs,
                    chief_token)  # fmt: skip
    finally:
        for p in (api, sim):
            p.terminate()
            p.wait(timeout=10)
        api_client.close()
        sim_client.close()
        drop_pg_database(url)


def test_every_flow_end_to_end(stack: Stack) -> None:
    api, sim, reg = stack.api, stack.sim, stack.reg_headers
    # Policy for the test region: lessons releasable at once, refunds escalated at once.
    # Rule pack changes: four eyes, approved by the office's supervisor.
    for key, value in (("confirmation_window_days", 1), ("refund_respond_days", 0)):
        asked = api.post("/api/v1/region-settings", headers=reg,
                         json={"region_code": "220100", "key": key, "value": value})  # fmt: skip
        assert approve_over_http(api, stack.chief, asked)["value"] == value
    body = factories.institution_body(stack.bank_id, region="220102")
    inst = api.post("/api/v1/institutions", headers=reg, json=body).json()
    key = {"Authorization": f"Bearer {inst['api_key']}"}
    stack.issued.append(inst["api_key"])
    escrow = body["escrow_account_no"]
    sim.post("/sim/accounts", json={"account_no": escrow})
    from datetime import datetime, timedelta

    from service.kit.clock import SHANGHAI

    start = (datetime.now(SHANGHAI).date() + timedelta(days=1)).isoformat()
    course = api.post(
        "/api/v1/courses", headers=key, json=factories.course_body(start, n=30)
    ).json()
    assert course["status"] == "approved", course

    def enroll(lessons: int, amount: str) -> dict[str, Any]:
        r = api.post(
            "/api/v1/enrollments",
            headers=key,
            json={
                "course_id": course["id"],
                "student_ref": "s",
                "lessons": lessons,
                "amount": amount,
            },
        )
        assert r.status_code == 201, r.text
        stack.issued.append(r.json()["access_code"])
        return r.json()

    def parent(e: dict[str, Any]) -> dict[str, str]:
        r = api.post(
            "/api/v1/parent/sessions",
            json={"enrollment_id": e["id"], "access_code": e["access_code"]},
        )
        stack.issued.append(r.json()["token"])
        return {"Authorization": f"Bearer {r.json()['token']}"}

    a, b, c = enroll(4, "80.00"), enroll(2, "40.00"), enroll(3, "50.00")
    for e in (a, b, c):
        paid = sim.post(
            "/sim/pay",
            json={
                "account_no": escrow,
                "payment_reference": e["payment_reference"],
                "amount": e["amount_due"],
                "bank_txn_id": f"PAY-{e['id'][-10:]}",
            },
        ).json()
        assert paid["status_code"] == 201, paid
    # A deposit replayed and conflicting.
    replay = stack.bank_post(
        "/api/v1/bank/deposits",
        {
            "bank_txn_id": f"PAY-{a['id'][-10:]}",
            "account_no": escrow,
            "payment_reference": a["payment_reference"],
            "amount": "80.00",
            "paid_at": "2026-01-01T00:00:00+08:00",
        },
    )
    assert replay.status_code == 409 and replay.json()["code"] == "idempotency_conflict"
    # Suspense: a payment nobody can match, then returned.
    susp = sim.post(
        "/sim/pay", json={"account_no": escrow, "payment_reference": "UNKNOWN", "amount": "10.00"}
    ).json()
    assert susp["status_code"] == 202 and susp["answer"]["reason"] == "unknown_reference"

    # Lessons: exact sums with cumulative rounding. A lesson's dispute window runs from its
    # report, whatever date is claimed; B's lesson is reported with the region's window of a
    # day, and disputed in it.
    def consume(e: dict[str, Any], n: int) -> dict[str, Any]:
        r = api.post(
            f"/api/v1/enrollments/{e['id']}/consumptions",
            headers=key,
            json={"lessons": n, "occurred_at": datetime.now(SHANGHAI).isoformat()},
        )
        assert r.status_code == 201, r.text
        return r.json()

    b_lesson = consume(b, 1)
    pb = parent(b)
    disputed = api.post(
        f"/api/v1/parent/consumptions/{b_lesson['id']}/dispute",
        headers=pb,
        json={"reason": "no lesson"},
    )
    assert disputed.status_code == 200 and disputed.json()["status"] == "disputed"
    # The district releases per lesson (一课一销): no window for lessons reported from now on.
    setting = {"region_code": "220102", "key": "confirmation_window_days", "value": 0}
    asked = api.post("/api/v1/region-settings", headers=reg, json=setting)
    assert approve_over_http(api, stack.chief, asked)["value"] == 0
    assert [consume(c, 1)["amount"] for _ in range(3)] == ["16.67", "16.66", "16.67"]
    consume(a, 1)
    consume(a, 1)

    # The bank misbehaves: two 500s, then a push that hangs past our timeout, duplicate and
    # shuffled callbacks.
    sim.post(
        "/sim/behaviour",
        json={
            "fail_next_pushes": 2,
            "hang_next_pushes": 1,
            "hang_seconds": 2,
            "duplicate_callbacks": True,
            "shuffle_callbacks": True,
        },
    )
    rel = api.post("/api/v1/jobs/release_batch/run", headers=reg, json={}).json()
    assert rel["instructions"] == 1
    stack.settle()
    balances = api.get("/api/v1/balances", headers=key).json()
    assert balances["released"] == "90.00"  # A's two lessons and C's three; B's is disputed

    # Suspense returned through the bank.
    dep = next(d for d in api.get("/api/v1/deposits?status=suspense", headers=reg).json()["items"])
    assert api.post(f"/api/v1/deposits/{dep['id']}/return", headers=reg).status_code == 200
    stack.settle()

    # Refund accepted and paid: A's last two lessons.
    pa = parent(a)
    ra = api.post("/api/v1/parent/refunds", headers=pa, json={"reason": "moving"}).json()
    assert ra["amount"] == "40.00"
    assert (
        api.post(
            f"/api/v1/refunds/{ra['id']}/respond",
            headers=key,
            json={"decision": "accept", "reason": "ok"},
        ).status_code
        == 200
    )
    stack.settle()
    assert api.get(f"/api/v1/parent/refunds/{ra['id']}", headers=pa).json()["status"] == "paid"

    # Refund of B: disputed by the institution, approved by the regulator, then failed at the bank.
    rb = api.post("/api/v1/parent/refunds", headers=pb, json={"reason": "quality"}).json()
    api.post(
        f"/api/v1/refunds/{rb['id']}/respond",
        headers=key,
        json={"decision": "dispute", "reason": "no"},
    )
    sim.post("/sim/behaviour", json={"reject_next": 1})
    assert (
        api.post(
            f"/api/v1/refunds/{rb['id']}/decide",
            headers=reg,
            json={"decision": "approve", "reason": "fair"},
        ).json()["status"]
        == "instructed"
    )
    stack.settle()
    assert api.get(f"/api/v1/parent/refunds/{rb['id']}", headers=pb).json()["status"] == "failed"
    # Asked again, not answered, escalated, paid.
    rb2 = api.post("/api/v1/parent/refunds", headers=pb, json={"reason": "again"}).json()
    assert (
        api.post("/api/v1/jobs/refund_escalation/run", headers=reg, json={}).json()[
            "refunds_accepted"
        ]
        >= 1
    )
    stack.settle()
    assert api.get(f"/api/v1/parent/refunds/{rb2['id']}", headers=pb).json()["status"] == "paid"

    # The day's statement matches, and the books hold.
    today = datetime.now(SHANGHAI).date().isoformat()
    stmt = sim.post("/sim/statements", json={"date": today, "accounts": [escrow]}).json()[escrow]
    assert stmt["status"] == "matched", stmt
    verify = api.get("/api/v1/ledger/verify", headers=reg).json()
    assert verify["ok"], verify
    assert api.get("/api/v1/ledger/trial-balance", headers=reg).json()["balanced"]
    final = api.get("/api/v1/balances", headers=key).json()
    assert Decimal(final["escrow"]) == (
        Decimal(final["prepaid_outstanding"])
        + Decimal(final["earned_unreleased"])
        + Decimal(final["suspense"])
    )
    assert sim.get("/sim/accounts").json()[escrow] == final["escrow"]
    pushes = sim.get("/sim/instructions").json()
    assert pushes["pushes_received"] > len(
        pushes["items"]
    )  # retries reached the bank, deduplicated
    stack.assert_logs_keep_no_secret()


def test_reserve_pays_the_refund_the_emptied_escrow_cannot(stack: Stack) -> None:
    """Risk-reserve supervision: the owner takes money out of the escrow account behind our
    back; the bank rejects a refund for want of funds; the reserve account pays it."""
    api, sim, reg = stack.api, stack.sim, stack.reg_headers
    from datetime import datetime, timedelta

    from service.kit.clock import SHANGHAI

    body = factories.institution_body(
        stack.bank_id,
        region="220102",
        supervision_mode="reserve",
        reserve_account_no=f"6229{int(time.time() * 1000) % 10**12:012d}",
    )
    inst = api.post("/api/v1/institutions", headers=reg, json=body).json()
    key = {"Authorization": f"Bearer {inst['api_key']}"}
    escrow, reserve = body["escrow_account_no"], body["reserve_account_no"]
    for account in (escrow, reserve):
        sim.post("/sim/accounts", json={"account_no": account})
    start = (datetime.now(SHANGHAI).date() + timedelta(days=1)).isoformat()
    course = api.post(
        "/api/v1/courses", headers=key, json=factories.course_body(start, n=30)
    ).json()
    e = api.post(
        "/api/v1/enrollments",
        headers=key,
        json={"course_id": course["id"], "student_ref": "s", "lessons": 4, "amount": "80.00"},
    ).json()
    for account, ref, amount in (
        (escrow, e["payment_reference"], "80.00"),
        (reserve, "RSV", "150.00"),
    ):
        paid = sim.post(
            "/sim/pay", json={"account_no": account, "payment_reference": ref, "amount": amount}
        ).json()
        assert paid["status_code"] == 201, paid
    sim.post("/sim/debit", json={"account_no": escrow, "amount": "70.00"})  # the owner's hand

    token = api.post(
        "/api/v1/parent/sessions", json={"enrollment_id": e["id"], "access_code": e["access_code"]}
    ).json()["token"]
    parent = {"Authorization": f"Bearer {token}"}
    refund = api.post("/api/v1/parent/refunds", headers=parent, json={"reason": "closing"}).json()
    api.post(
        f"/api/v1/refunds/{refund['id']}/respond",
        headers=key,
        json={"decision": "accept", "reason": "ok"},
    )
    stack.settle()
    view = api.get(f"/api/v1/parent/refunds/{refund['id']}", headers=parent).json()
    assert view["status"] == "paid", view
    notes = [t["note"] or "" for t in view["timeline"]]
    assert any("insufficient funds" in n for n in notes)
    assert any("risk reserve" in n for n in notes)
    accounts = sim.get("/sim/accounts").json()
    assert (accounts[escrow], accounts[reserve]) == ("10.00", "70.00")

    # The reserve account's statement matches the ledger; the escrow's shows the 70.00 taken.
    today = datetime.now(SHANGHAI).date().isoformat()
    stmts = sim.post("/sim/statements", json={"date": today, "accounts": [escrow, reserve]}).json()
    assert stmts[reserve]["status"] == "matched", stmts[reserve]
    kinds = {b["kind"] for b in stmts[escrow]["breaks"]}
    assert kinds == {"missing_in_ledger", "balance_differs"}, stmts[escrow]
    final = api.get("/api/v1/balances", headers=key).json()
    assert (final["escrow"], final["prepaid_outstanding"], final["earned_unreleased"]) == (
        "80.00",
        "0.00",
        "80.00",
    )
    assert api.get("/api/v1/ledger/verify", headers=reg).json()["ok"]
    assert api.get("/api/v1/ledger/trial-balance", headers=reg).json()["balanced"]
