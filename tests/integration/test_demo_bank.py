"""`make run`'s bank pays what the demo instructs: the simulator `tuitionguard up` starts holds
every demo account at the balance the replayed history left (not the empty books that refused
every refund as "insufficient funds" and opened a red case against a healthy school), and keeps
its books across a restart.

Driven as `up` drives it: the same seed and simulator command lines (`tools.up`), a shorter
history, the service served by its own process, a refund disputed and then approved by the
province's regulator through the API's decision (the workbench's use case)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.flows import consumptions, refunds
from service.flows.balances import balances_of
from service.flows.models import Enrollment, Refund, StatementBreak
from service.kit.clock import utcnow
from service.kit.db import make_engine
from service.registry.models import Institution
from tests.api.approving import approve_over_http, sign_in_over_http
from tests.processes import free_port, start, wait_until
from tools.up import BANK_STATE, bank_argv, seed_argv

TUITIONGUARD = os.path.join(os.path.dirname(sys.executable), "tuitionguard")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A seeded demo region (40 days of history) in tmp_path, as `up` seeds it."""
    port, bank_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/tuitionguard.db",
        "ENVIRONMENT": "development",
        "SCHEDULER_ENABLED": "false",
    }
    seed = [*seed_argv(TUITIONGUARD, "127.0.0.1", port, bank_port), "--history-days", "40"]
    subprocess.run(seed, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    yield {"tmp": tmp_path, "env": env, "port": port, "bank_port": bank_port}


def _bank(demo: dict[str, Any]) -> subprocess.Popen[bytes]:
    argv = bank_argv(TUITIONGUARD, "127.0.0.1", demo["port"], demo["bank_port"])
    return start(argv, demo["env"], str(demo["tmp"] / "bank-sim.log"))


def _answers(bank_port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{bank_port}/sim/accounts").status_code == 200


def _accounts(bank_port: int) -> dict[str, str]:
    answer: dict[str, str] = httpx.get(f"http://127.0.0.1:{bank_port}/sim/accounts").json()
    return answer


def _disputed_refund(database_url: str, enrollment_id: str, refund_id: str) -> str:
    """The institution disputes the parent's refund (its own use case, in-process: the demo's
    history schools have no printed API key); its escrow account."""
    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        r = s.get(Refund, refund_id)
        assert r is not None and r.enrollment_id == enrollment_id
        inst = s.scalar(select(Institution).where(Institution.id == r.institution_id))
        assert inst is not None
        refunds.respond(s, institution=inst, refund_id=refund_id, decision="dispute",
                        reason="课时已上完", now=utcnow())  # fmt: skip
        account = inst.escrow_account_no
    engine.dispose()
    return account


def _a_lesson_reported(database_url: str) -> str:
    """An institution of the history reports a lesson of an enrollment with lessons left (its
    own use case, in-process, as above); its escrow account."""
    engine = make_engine(database_url)
    now = utcnow()
    with Session(engine) as s, s.begin():
        for enr in s.scalars(
            select(Enrollment).where(Enrollment.status == "active").order_by(Enrollment.id)
        ):
            inst = s.get(Institution, enr.institution_id)
            assert inst is not None
            try:
                with s.begin_nested():
                    consumptions.report(s, institution=inst, enrollment_id=enr.id, lessons=1,
                                        occurred_at=now - timedelta(minutes=5),
                                        session_ref=None, now=now)  # fmt: skip
            except DomainError:
                continue
            account = inst.escrow_account_no
            break
        else:
            raise AssertionError("no enrollment of the demo has a lesson left")
    engine.dispose()
    return account


def _ledger_and_breaks(database_url: str) -> tuple[dict[str, Decimal], set[str]]:
    """Each institution's escrow by the ledger, by its escrow account; and the accounts whose
    statements showed a break (money that left the bank with no instruction, say)."""
    engine = make_engine(database_url)
    with Session(engine) as s:
        accounts = dict(
            s.execute(select(Institution.id, Institution.escrow_account_no)).tuples().all()
        )
        held = balances_of(s.connection(), list(accounts))
        broken = set(
            s.scalars(
                select(Institution.escrow_account_no)
                .join(StatementBreak, StatementBreak.institution_id == Institution.id)
                .distinct()
            )
        )
    engine.dispose()
    return {accounts[i]: b.escrow for i, b in held.items()}, broken


def test_the_demo_bank_holds_what_the_ledger_holds(demo: dict[str, Any]) -> None:
    """Every release and refund the ledger can instruct is covered at the bank: an account
    the history left without a break holds exactly the ledger's escrow."""
    opened = json.loads((demo["tmp"] / BANK_STATE).read_text())["balances"]
    ledger, broken = _ledger_and_breaks(demo["env"]["DATABASE_URL"])
    clean = {a: v for a, v in ledger.items() if a not in broken}
    assert len(clean) >= len(ledger) // 2 and sum(clean.values()) > 0
    assert {a: Decimal(opened[a]) for a in clean} == clean
    for account in broken:  # where money left without an instruction, the bank has less
        assert Decimal(opened[account]) <= ledger[account]


def test_a_refund_approved_in_the_demo_is_paid_by_its_bank(
    demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(demo["tmp"])
    creds = json.loads((demo["tmp"] / "demo-credentials.json").read_text())
    opened = json.loads((demo["tmp"] / BANK_STATE).read_text())["balances"]
    port, bank_port = demo["port"], demo["bank_port"]
    serve = [TUITIONGUARD, "serve", "--host", "127.0.0.1", "--port", str(port)]
    api = start(serve, demo["env"], str(demo["tmp"] / "api.log"))
    sim = _bank(demo)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200,
                   60, "the service")  # fmt: skip
        wait_until(lambda: _answers(bank_port), 30, "the bank simulator")
        # Every account of the demo is open at the balance the history left, and some hold money.
        assert sum(Decimal(v) for v in opened.values()) > 0
        assert _accounts(bank_port) == opened

        parent = creds["parent"]
        token = httpx.post(f"{base}/parent/sessions", json={
            "enrollment_id": parent["enrollment_id"], "access_code": parent["access_code"]},
        ).json()["token"]  # fmt: skip
        asked = httpx.post(f"{base}/parent/refunds", json={"lessons": 1, "reason": "孩子转学"},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert asked.status_code == 201, asked.text
        refund_id = asked.json()["id"]
        account = _disputed_refund(demo["env"]["DATABASE_URL"], parent["enrollment_id"], refund_id)

        province = creds["regulators"]["220000"]["token"]
        decided = httpx.post(f"{base}/refunds/{refund_id}/decide",
                             json={"decision": "approve", "reason": "家长主张属实"},
                             headers={"Authorization": f"Bearer {province}"})  # fmt: skip
        assert decided.status_code == 200, decided.text

        def paid() -> dict[str, Any] | None:
            r = httpx.get(f"{base}/parent/refunds/{refund_id}",
                          headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
            return r if r["status"] in ("paid", "failed") else None

        done = wait_until(paid, 30, "the bank's answer")
        assert done["status"] == "paid", done
        after = _accounts(bank_port)
        assert Decimal(after[account]) == Decimal(opened[account]) - Decimal(done["amount"])
        assert {a: v for a, v in after.items() if a != account} == {
            a: v for a, v in opened.items() if a != account
        }

        # A release: a lesson reported (the region's window set to none, so it is due at
        # once), the nightly release run by hand; the bank pays it from the same books.
        setting = httpx.post(f"{base}/region-settings",
                             headers={"Authorization": f"Bearer {province}"},
                             json={"region_code": "220000", "key": "confirmation_window_days",
                                   "value": 0, "reason": "演示：课时即时划拨"})  # fmt: skip
        # A rule pack change: four eyes, approved by the province's chief (a demo officer).
        (chief,) = [o for o in creds["regulators"]["220000"]["officers"]
                    if o["role"] == "supervisor"]  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as site:
            approve_over_http(site, sign_in_over_http(site, chief), setting)
        released = _a_lesson_reported(demo["env"]["DATABASE_URL"])
        run = httpx.post(f"{base}/jobs/release_batch/run", json={},
                         headers={"Authorization": f"Bearer {province}"}).json()  # fmt: skip
        assert run["instructions"] >= 1, run

        def releases() -> list[dict[str, Any]] | None:
            items = httpx.get(f"http://127.0.0.1:{bank_port}/sim/instructions").json()["items"]
            mine = [i for i in items if i["kind"] == "release"]
            done = len(mine) >= run["instructions"] and all(i["result"] for i in mine)
            return mine if done else None

        paid_out = wait_until(releases, 30, "the bank's answer to the release")
        assert [i["result"]["status"] for i in paid_out] == ["executed"] * len(paid_out)
        mine = sum(Decimal(i["amount"]) for i in paid_out if i["account_no"] == released)
        moved = Decimal(after[released]) - Decimal(_accounts(bank_port)[released])
        assert mine > 0 and moved == mine
        after = _accounts(bank_port)

        # A restart keeps the bank's books: the balances after the refund, not the history's.
        sim.terminate()
        sim.wait(timeout=10)
        sim = _bank(demo)
        wait_until(lambda: _answers(bank_port), 30, "the bank simulator again")
        assert _accounts(bank_port) == after
    finally:
        for p in (api, sim):
            p.terminate()
            p.wait(timeout=10)
