"""The chaos soak (the reliability issue): concurrent clients drive a random mix of money
operations at a fixed offered rate against the service on a PostgreSQL of its own, while the
soak restarts PostgreSQL, kills the API with SIGKILL (and starts it again), and cuts database
connections right after a COMMIT is sent. Clients retry as real banks and schools do: the same
`Idempotency-Key` or the same natural key, until an answer that is not a 5xx, 429 or a broken
connection. At the end, with the faults over, the books must hold: `verify` clean, the trial
balance balanced, every acknowledged operation present exactly once, every institution's
escrow = prepaid + earned + suspense, the bank's balances (the soak keeps them, as the bank)
equal to the ledger's escrow to the fen, and no instruction left pending.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

import ledger
from service.bank_gateway.signing import signed_headers
from service.flows.balances import institution_balances
from service.flows.models import Consumption, Enrollment, Instruction, Refund
from service.kit.clock import local_date
from tests import factories
from tests.api.approving import approve_over_http, sign_in_over_http
from tests.e2e.chaos import CommitCutProxy, Postgres, Service
from tests.processes import cli

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class School:
    id: str
    key: str
    escrow: str
    course: str
    awaiting: list[dict[str, Any]] = field(default_factory=list)
    paid: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Tally:
    """What was acknowledged (a 2xx), as the clients saw it, and what went wrong on the way."""

    offered: int = 0
    acknowledged: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    enrolled: dict[str, str] = field(default_factory=dict)  # student_ref → enrollment id
    lessons: Counter[str] = field(default_factory=Counter)  # enrollment → lessons reported
    refunds: Counter[str] = field(default_factory=Counter)  # enrollment → refunds requested
    bank: Counter[str] = field(default_factory=Counter)  # account → fen the bank holds
    results: dict[str, str] = field(default_factory=dict)  # instruction → executed | rejected
    last_ok: float = 0.0
    ok_times: list[float] = field(default_factory=list)


@dataclass
class Soak:
    base: str
    bank_id: str
    secret: str
    regulator: str
    schools: list[School]
    tally: Tally = field(default_factory=Tally)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    settling: set[str] = field(default_factory=set)  # instructions a client is answering

    # ------------------------------------------------------------------ one request, retried
    async def call(
        self, c: httpx.AsyncClient, kind: str, method: str, path: str, body: Any = None,
        headers: dict[str, str] | None = None, bank: bool = False, give_up: float = 60,
    ) -> httpx.Response | None:  # fmt: skip
        """Until an answer that is neither a 5xx, a 429 nor a broken connection, the same
        request each time (signed anew, as a bank would)."""
        raw = json.dumps(body).encode() if body is not None else b""
        deadline = time.monotonic() + give_up
        pause = 0.05
        while time.monotonic() < deadline:
            h = dict(headers or {})
            if bank:
                h |= signed_headers(self.secret, bank_id=self.bank_id, timestamp=int(time.time()),
                                    method=method, path_and_query=path, body=raw)  # fmt: skip
            if body is not None:
                h["content-type"] = "application/json"
            try:
                r = await c.request(method, self.base + path, content=raw, headers=h, timeout=30)
            except httpx.HTTPError as exc:
                self.tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            else:
                if r.status_code not in RETRYABLE:
                    if r.status_code < 300:
                        self.tally.acknowledged[kind] += 1
                        now = time.monotonic()
                        self.tally.last_ok = now
                        self.tally.ok_times.append(now)
                    else:
                        self.tally.errors[f"{kind}: {r.status_code} {r.json().get('code')}"] += 1
                    return r
                self.tally.errors[f"{kind}: {r.status_code}"] += 1
            await asyncio.sleep(pause + self.rng.random() * pause)
            pause = min(pause * 2, 2.0)
        self.tally.errors[f"{kind}: gave up"] += 1
        return None

    def keyed(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}

    # ------------------------------------------------------------------ the operations
    async def enrol(self, c: httpx.AsyncClient) -> None:
        s = self.rng.choice(self.schools)
        ref = f"s-{uuid.uuid4().hex[:10]}"
        body = {"course_id": s.course, "student_ref": ref, "lessons": 4, "amount": "80.00"}
        r = await self.call(c, "enrol", "POST", "/api/v1/enrollments", body, self.keyed(s.key))
        if r is not None and r.status_code == 201:
            self.tally.enrolled[ref] = r.json()["id"]
            s.awaiting.append(r.json())

    async def pay(self, c: httpx.AsyncClient, batch: bool) -> None:
        s = self.rng.choice(self.schools)
        take = [s.awaiting.pop() for _ in range(min(len(s.awaiting), 20 if batch else 1))]
        if not take:
            return
        items = [{"bank_txn_id": f"D{e['id']}", "account_no": s.escrow, "amount": e["amount_due"],
                  "payment_reference": e["payment_reference"],
                  "paid_at": datetime.now(UTC).isoformat()} for e in take]  # fmt: skip
        if batch:
            r = await self.call(c, "deposit batch", "POST", "/api/v1/bank/deposits/batch",
                                {"deposits": items}, bank=True)  # fmt: skip
            answers = r.json()["results"] if r is not None and r.status_code == 200 else []
        else:
            r = await self.call(c, "deposit", "POST", "/api/v1/bank/deposits", items[0], bank=True)
            answers = [r.json()] if r is not None and r.status_code in (201, 202) else []
        for e, item, a in zip(take, items, answers, strict=False):
            if a.get("status") in ("posted", "suspense"):
                self.tally.bank[s.escrow] += int(Decimal(item["amount"]) * 100)
                if a.get("status") == "posted":
                    s.paid.append({**e, "left": 4})

    async def lesson(self, c: httpx.AsyncClient) -> None:
        s = self.rng.choice(self.schools)
        live = [e for e in s.paid if e["left"] > 0]
        if not live:
            return
        e = self.rng.choice(live)
        e["left"] -= 1
        body = {"lessons": 1, "occurred_at": datetime.now(UTC).isoformat()}
        r = await self.call(c, "lesson", "POST", f"/api/v1/enrollments/{e['id']}/consumptions",
                            body, self.keyed(s.key))  # fmt: skip
        if r is not None and r.status_code == 201:
            self.tally.lessons[e["id"]] += 1

    async def refund(self, c: httpx.AsyncClient) -> None:
        s = self.rng.choice(self.schools)
        live = [e for e in s.paid if e["left"] > 0 and not e.get("refunding")]
        if not live:
            return
        e = self.rng.choice(live)
        e["refunding"] = True
        token = await self.parent(c, e)
        if token is None:
            return
        r = await self.call(c, "refund", "POST", "/api/v1/parent/refunds",
                            {"lessons": 1, "reason": "soak"}, self.keyed(token))  # fmt: skip
        if r is not None and r.status_code == 201:
            e["left"] -= 1
            self.tally.refunds[e["id"]] += 1
            decision = "accept" if self.rng.random() < 0.8 else "dispute"
            await self.call(c, "refund answer", "POST", f"/api/v1/refunds/{r.json()['id']}/respond",
                            {"decision": decision, "reason": "soak"}, self.keyed(s.key))  # fmt: skip

    async def parent(self, c: httpx.AsyncClient, e: dict[str, Any]) -> str | None:
        r = await self.call(c, "parent session", "POST", "/api/v1/parent/sessions",
                            {"enrollment_id": e["id"], "access_code": e["access_code"]})  # fmt: skip
        return r.json()["token"] if r is not None and r.status_code == 201 else None

    async def settle(self, c: httpx.AsyncClient) -> None:
        """The bank: every pending instruction executed (one in ten rejected), as it pays."""
        path = "/api/v1/bank/instructions?status=pending&limit=100"
        r = await self.call(c, "bank poll", "GET", path, bank=True)
        for ins in r.json()["items"] if r is not None and r.status_code == 200 else []:
            if ins["id"] in self.tally.results or ins["id"] in self.settling:
                continue  # another client of the bank has it in hand
            self.settling.add(ins["id"])
            # The bank's decision is its own, the same however often it is asked.
            status = "rejected" if int(ins["id"][-2:], 16) < 26 else "executed"
            body = {"status": status, "bank_txn_id": f"R{ins['id']}",
                    "executed_at": datetime.now(UTC).isoformat()}  # fmt: skip
            done = await self.call(c, "bank result", "POST",
                                   f"/api/v1/bank/instructions/{ins['id']}/result", body, bank=True)  # fmt: skip
            if done is not None and done.status_code == 200:
                self.tally.results[ins["id"]] = status
                if status == "executed":
                    self.tally.bank[ins["account_no"]] -= int(Decimal(ins["amount"]) * 100)

    async def jobs(self, c: httpx.AsyncClient) -> None:
        for name in ("release_batch", "refund_escalation"):
            await self.call(c, f"job {name}", "POST", f"/api/v1/jobs/{name}/run", {},
                            {"Authorization": f"Bearer {self.regulator}"})  # fmt: skip

    MIX = (("enrol", 30), ("pay", 20), ("pay batch", 4), ("lesson", 25), ("refund", 8),
           ("settle", 8), ("jobs", 3), ("statement", 2))  # fmt: skip

    async def one(self, c: httpx.AsyncClient) -> None:
        kind = self.rng.choices([k for k, _ in self.MIX], [w for _, w in self.MIX])[0]
        if kind in ("pay", "pay batch"):
            await self.pay(c, kind == "pay batch")
        elif kind == "statement":
            await self.statement(c)
        else:
            await getattr(self, kind)(c)

    async def statement(self, c: httpx.AsyncClient) -> None:
        """The bank's view of one account today, as a statement with no lines (its balance is
        what is checked; the lines are the day's, which the checks below hold exactly)."""
        s = self.rng.choice(self.schools)
        fen = self.tally.bank[s.escrow]
        amount = f"{Decimal(fen) / 100:.2f}"
        body = {"account_no": s.escrow, "statement_date": local_date(datetime.now(UTC)).isoformat(),
                "opening_balance": amount, "closing_balance": amount, "transactions": []}  # fmt: skip
        await self.call(c, "statement", "POST", "/api/v1/bank/statements", body, bank=True)

    # ------------------------------------------------------------------ the run
    async def drive(self, seconds: float, rate: float, clients: int) -> None:
        """Open loop: an operation every 1/rate seconds, at most `clients` in flight."""
        gate = asyncio.Semaphore(clients)
        tasks: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients)) as c:
            start = time.monotonic()
            n = 0
            while time.monotonic() - start < seconds:
                n += 1
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
                self.tally.offered += 1
                if gate.locked():
                    self.tally.errors["dropped: all clients busy"] += 1
                    continue
                await gate.acquire()
                task = asyncio.create_task(self.one(c))
                task.add_done_callback(lambda _t: gate.release())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.gather(*tasks)

    async def drain(self) -> None:
        """After the faults: run the jobs and settle until nothing is pending."""
        async with httpx.AsyncClient() as c:
            for _ in range(30):
                await self.jobs(c)
                await self.settle(c)
                path = "/api/v1/bank/instructions?status=pending&limit=1"
                r = await self.call(c, "bank poll", "GET", path, bank=True)
                if r is not None and r.status_code == 200 and not r.json()["items"]:
                    return


def seed(
    base: str, regulator: str, bank_id: str, schools: int, chief: dict[str, str]
) -> list[School]:
    """Schools of Changchun whose lessons are released and whose refunds are accepted at once
    (rule pack changes, approved by the office's supervisor `chief`: four eyes)."""
    with httpx.Client(base_url=base, timeout=30) as c:
        reg = {"Authorization": f"Bearer {regulator}"}
        approver = sign_in_over_http(c, chief)
        for key, value in (("confirmation_window_days", 0), ("refund_respond_days", 0)):
            asked = c.post("/api/v1/region-settings", headers=reg,
                           json={"region_code": "220100", "key": key, "value": value})  # fmt: skip
            approve_over_http(c, approver, asked)
        out = []
        for _ in range(schools):
            body = factories.institution_body(bank_id, region="220102")
            inst = c.post("/api/v1/institutions", headers=reg, json=body).json()
            key = {"Authorization": f"Bearer {inst['api_key']}"}
            course = c.post("/api/v1/courses", headers=key, json=factories.course_body(n=60))
            out.append(School(inst["id"], inst["api_key"], body["escrow_account_no"],
                              course.json()["id"]))  # fmt: skip
        return out


@dataclass
class Report:
    seconds: float
    offered: int
    acknowledged: int
    errors: dict[str, int]
    recoveries: dict[str, float]
    checks: dict[str, bool]
    details: dict[str, Any]


def check(db_url: str, soak: Soak) -> tuple[dict[str, bool], dict[str, Any]]:
    """The books after the storm."""
    engine = create_engine(db_url)
    t = soak.tally
    with engine.connect() as conn:
        verify = ledger.verify(conn)
        trial = ledger.trial_balance(conn)
        rows = conn.execute(
            select(Enrollment.student_ref, func.count()).group_by(Enrollment.student_ref)
        )
        per_ref = dict(rows.tuples().all())
        lessons = dict(conn.execute(select(Consumption.enrollment_id, func.sum(Consumption.lessons))
                                    .group_by(Consumption.enrollment_id)).tuples().all())  # fmt: skip
        refunds = dict(conn.execute(select(Refund.enrollment_id, func.count())
                                    .group_by(Refund.enrollment_id)).tuples().all())  # fmt: skip
        pending = conn.scalar(select(func.count()).select_from(Instruction)
                              .where(Instruction.status == "pending"))  # fmt: skip
        statuses = dict(conn.execute(select(Instruction.id, Instruction.status)).tuples().all())
        identity, bank_matches = [], []
        for s in soak.schools:
            b = institution_balances(conn, s.id)
            identity.append(b.escrow == b.prepaid_outstanding + b.earned_unreleased + b.suspense)
            bank_matches.append(int(b.escrow * 100) == t.bank[s.escrow])
    engine.dispose()
    acked_once = all(per_ref.get(ref) == 1 for ref in t.enrolled)
    checks = {
        "verify clean": verify.ok,
        "trial balance balanced": trial.balanced,
        "every acknowledged enrollment exactly once": acked_once,
        "no enrollment twice": all(n == 1 for n in per_ref.values()),
        "every acknowledged lesson exactly once": all(
            int(lessons.get(e, 0)) == n for e, n in t.lessons.items()),
        "every acknowledged refund exactly once": all(
            int(refunds.get(e, 0)) == n for e, n in t.refunds.items()),
        "bank results as acknowledged": all(statuses.get(i) == s for i, s in t.results.items()),
        "escrow = prepaid + earned + suspense": all(identity),
        "bank balances = ledger escrow": all(bank_matches),
        "no instruction pending": pending == 0,
    }  # fmt: skip
    return checks, {"enrollments": len(per_ref), "instructions": len(statuses)}


def recovery(tally: Tally, at: float) -> float:
    """Seconds from a fault to the next acknowledged operation."""
    later = [t for t in tally.ok_times if t > at]
    return round(min(later) - at, 2) if later else float("inf")


def run(
    *, seconds: float, rate: float, clients: int, schools: int, logs: Path, threads: int = 40
) -> Report:
    pg = Postgres()
    proxy: CommitCutProxy | None = None
    api: Service | None = None
    try:
        pg.start()
        direct = pg.url()
        env = {**os.environ, "DATABASE_URL": direct, "ENVIRONMENT": "test",
               "SECRET_KEY": factories.SECRET_KEY, "LOG_SIGNING_KEY": "ab" * 32, "SCHEDULER_ENABLED": "false",
               "LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_SECOND": "0",
               "DATABASE_POOL_SIZE": "20", "REQUEST_THREADS": str(threads)}  # fmt: skip
        cli(env, "migrate")
        regulator = cli(env, "regulator", "create", "--name", "Soak", "--region", "220000")
        bank = json.loads(cli(env, "bank", "create", "--name", "Soak Bank", "--code", "SOAK"))
        chief = json.loads(cli(env, "officer", "create", "--region", "220000", "--name", "Chief",
                               "--role", "supervisor"))  # fmt: skip
        proxy = CommitCutProxy(pg.port)
        api = Service({**env, "DATABASE_URL": pg.url(proxy.port)}, logs / "soak-api.log")
        api.start()
        soak = Soak(api.base, bank["bank_id"], bank["secret"], regulator,
                    seed(api.base, regulator, bank["bank_id"], schools, chief))  # fmt: skip
        faults: dict[str, float] = {}

        async def storm() -> None:
            assert api is not None and proxy is not None
            await asyncio.sleep(seconds * 0.25)
            faults["PostgreSQL restarted"] = time.monotonic()
            await asyncio.to_thread(pg.restart)
            await asyncio.sleep(seconds * 0.25)
            faults["API killed (SIGKILL) and restarted"] = time.monotonic()
            api.kill()
            await asyncio.to_thread(api.start)
            await asyncio.sleep(seconds * 0.2)
            faults["connection cut after COMMIT (x3)"] = time.monotonic()
            proxy.cut_after_next_commit(3)

        async def both() -> None:
            await asyncio.gather(soak.drive(seconds, rate, clients), storm())
            await soak.drain()

        began = time.monotonic()
        asyncio.run(both())
        took = time.monotonic() - began
        checks, details = check(direct, soak)
        details["commits cut"] = proxy.cuts
        t = soak.tally
        return Report(seconds=took, offered=t.offered, acknowledged=sum(t.acknowledged.values()),
                      errors=dict(t.errors.most_common()),
                      recoveries={k: recovery(t, v) for k, v in faults.items()},
                      checks=checks, details={**details, "by kind": dict(t.acknowledged)})  # fmt: skip
    finally:
        if api is not None:
            api.stop()
        if proxy is not None:
            proxy.close()
        pg.remove()
