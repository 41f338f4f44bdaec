"""A server killed in the middle of a request does not block the bank's retry (issue: holes,
item 3). On PostgreSQL, with the service as a real process: the deposit request is held inside
the database (the test holds a lock on the enrollment it pays), the server is killed with
SIGKILL, restarted, and the bank's retry with the same Idempotency-Key is answered within the
claim's lease instead of 409 `idempotency_in_progress` for seven days."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg

from service.bank_gateway.signing import signed_headers
from tests import factories
from tests.conftest import create_pg_database, drop_pg_database
from tests.e2e.test_money_flows import SECRET_KEY
from tests.processes import cli, free_port, wait_until
from tests.processes import start as _start

LEASE = 2.0


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "service.cli", "serve", "--port", str(port), "--no-scheduler"]
    return _start(cmd, env, str(log))


def test_a_retry_after_the_server_was_killed_mid_request_is_answered(tmp_path: Path) -> None:
    url = create_pg_database()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": SECRET_KEY,
        "LOG_SIGNING_KEY": "ab" * 32,
        "SCHEDULER_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "IDEMPOTENCY_LEASE_SECONDS": str(LEASE),
    }
    try:
        cli(env, "migrate")
        reg = {
            "Authorization": "Bearer "
            + cli(env, "regulator", "create", "--name", "J", "--region", "220000")
        }
        bank = json.loads(cli(env, "bank", "create", "--name", "B", "--code", "B1"))
        api = _serve(env, port, tmp_path / "api-1.log")
        base = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=base, timeout=30)
        wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the API")
        body = factories.institution_body(bank["bank_id"])
        inst = client.post("/api/v1/institutions", headers=reg, json=body).json()
        key = {"Authorization": f"Bearer {inst['api_key']}"}
        today = time.strftime("%Y-%m-%d")
        course = client.post("/api/v1/courses", headers=key, json=factories.course_body(today, n=5))
        e = client.post(
            "/api/v1/enrollments",
            headers=key,
            json={
                "course_id": course.json()["id"],
                "student_ref": "s",
                "lessons": 1,
                "amount": "20.00",
            },
        ).json()
        raw = json.dumps(
            {
                "bank_txn_id": "CRASH-1",
                "account_no": body["escrow_account_no"],
                "payment_reference": e["payment_reference"],
                "amount": e["amount_due"],
                "paid_at": "2026-12-01T10:00:00+08:00",
            }
        ).encode()

        def send() -> httpx.Response:
            headers = signed_headers(
                bank["secret"],
                bank_id=bank["bank_id"],
                timestamp=int(time.time()),
                method="POST",
                path_and_query="/api/v1/bank/deposits",
                body=raw,
            )
            headers.update({"content-type": "application/json", "Idempotency-Key": "crash-1"})
            with httpx.Client(base_url=base, timeout=30) as c:
                return c.post("/api/v1/bank/deposits", content=raw, headers=headers)

        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as blocker:
            blocker.execute("SELECT 1 FROM enrollments WHERE id = %s FOR UPDATE", (e["id"],))
            caught: list[BaseException] = []

            def doomed() -> None:
                try:
                    send()
                except httpx.HTTPError as exc:  # the server dies under it
                    caught.append(exc)

            worker = threading.Thread(target=doomed)
            worker.start()
            with psycopg.connect(dsn, autocommit=True) as watch:
                wait_until(
                    lambda: watch.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE '%%enrollments%%'"
                    ).fetchone()[0],
                    20,
                    "the deposit to wait on the enrollment's lock",
                )
                claimed = watch.execute(
                    "SELECT count(*) FROM idempotency_records WHERE key = 'crash-1'"
                    " AND status_code IS NULL"
                ).fetchone()[0]
                assert claimed == 1  # the claim the request made before it ran
            os.kill(api.pid, signal.SIGKILL)
            api.wait(10)
            worker.join(30)
            assert caught, "the request should have died with the server"
            blocker.rollback()

        api = _serve(env, port, tmp_path / "api-2.log")
        wait_until(lambda: client.get("/readyz").status_code == 200, 60, "the API again")
        started = time.monotonic()
        first = wait_until(
            lambda: (r := send()).status_code != 409 and r, 3 * LEASE + 10, "the retry"
        )
        assert time.monotonic() - started < 3 * LEASE + 10
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "posted"
        again = send()
        assert (again.status_code, again.content) == (201, first.content)
        api.terminate()
        api.wait(10)
    finally:
        for p in [locals().get("api")]:
            if p is not None and p.poll() is None:
                p.kill()
        drop_pg_database(url)
