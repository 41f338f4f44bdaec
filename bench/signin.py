"""An officer's sign-in through the HTTP API (issue 32): `POST /api/v1/officer-sessions` with
the username, the password (Argon2id, the service's parameters: service.registry.officers.
HASHER) and the current TOTP code, on PostgreSQL, in process (the ASGI app under Starlette's
test client: no network, the same code path from the request's bytes to the session row).

In one run, on a fresh database with `--officers` officers (each signs in once: a TOTP code is
good once, so every sign-in is another officer's):
  1. baselines: GET /healthz (no database), and a bare Argon2 verification of a right password
     (the floor under any sign-in with these parameters);
  2. sign-ins one at a time; then `--concurrency` callers at once;
printed as p50, p95 and max in milliseconds, with the ratio of the sign-in's p95 to the bare
verification's median. Goal: p95 under 300 ms.

Run: .venv/bin/python bench/signin.py [--officers 60] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyotp
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from bench.common import machine_speed, pct, temporary_pg_database
from service.app import create_app
from service.config import Settings
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.registry import credentials, officers

SECRET_KEY = "bench-secret-key-0123456789"  # noqa: S105 - a throw-away database


def _officers(url: str, n: int) -> list[officers.Created]:
    engine = make_engine(url)
    now = datetime.now(UTC)

    def make(s: object) -> list[officers.Created]:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        issued = credentials.create_regulator(s, name="Bench office", region_code="220000", now=now)
        office = credentials.regulator_by_token(s, issued.credential)
        assert office is not None
        return [
            officers.create_officer(
                s,
                regulator=office,
                name=f"Officer {k}",
                role="officer",
                now=now,
                secret_key=SECRET_KEY,
                actor="bench",
            )
            for k in range(n)
        ]

    made = run_in_transaction(make_sessionmaker(engine), make)
    engine.dispose()
    return made


def _ms(samples: list[float]) -> str:
    return (f"p50 {statistics.median(samples):7.1f}  p95 {pct(samples, 95):7.1f}  "
            f"max {max(samples):7.1f} ms  (n={len(samples)})")  # fmt: skip


def _timed(fn: object) -> float:
    assert callable(fn)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--officers", type=int, default=60)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()
    h = officers.HASHER
    print(f"Argon2id t={h.time_cost} m={h.memory_cost // 1024} MiB p={h.parallelism}; "
          f"{args.officers} officers; machine speed {machine_speed():.0f} ms (lower is faster)")  # fmt: skip
    with temporary_pg_database("tg_signin") as url:
        upgrade(url)
        half = args.officers // 2
        made = _officers(url, args.officers)
        settings = Settings(environment="test", database_url=url, secret_key=SECRET_KEY,
                            log_signing_key="ab" * 32, scheduler_enabled=False,
                            rate_limit_per_second=0)  # fmt: skip
        with TestClient(create_app(settings)) as c:

            def sign_in(o: officers.Created) -> None:
                code = pyotp.TOTP(o.totp_secret).now()
                r = c.post("/api/v1/officer-sessions",
                           json={"username": o.username, "password": o.password, "totp": code})  # fmt: skip
                assert r.status_code == 201, r.text

            for _ in range(5):  # warm: the first requests build the app's caches
                c.get("/healthz")
            health = [_timed(lambda: c.get("/healthz")) for _ in range(200)]
            digest = h.hash("a-right-password-1234")
            verify = [_timed(lambda: h.verify(digest, "a-right-password-1234")) for _ in range(30)]
            rfc = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
            rfc_digest = rfc.hash("a-right-password-1234")
            rfc_verify = [_timed(lambda: rfc.verify(rfc_digest, "a-right-password-1234"))
                          for _ in range(10)]  # fmt: skip
            one = [_timed(lambda o=o: sign_in(o)) for o in made[:half]]  # type: ignore[misc]
            with ThreadPoolExecutor(args.concurrency) as pool:
                many = list(pool.map(lambda o: _timed(lambda: sign_in(o)), made[half:]))
    print(f"  GET /healthz (baseline)                  {_ms(health)}")
    print(f"  bare Argon2 verify (baseline)            {_ms(verify)}")
    print(f"  bare verify at RFC 9106 t=3 m=64 MiB p=4 {_ms(rfc_verify)}")
    print(f"  sign-in, one at a time                   {_ms(one)}")
    print(f"  sign-in, {args.concurrency} at once                       {_ms(many)}")
    floor = statistics.median(verify)
    print(f"  sign-in p95 / bare verify p50: {pct(one, 95) / floor:.2f} (one at a time), "
          f"{pct(many, 95) / floor:.2f} ({args.concurrency} at once); goal p95 < 300 ms: "
          f"{'met' if pct(one, 95) < 300 else 'missed'} one at a time, "
          f"{'met' if pct(many, 95) < 300 else 'missed'} {args.concurrency} at once")  # fmt: skip
    print(f"machine speed after: {machine_speed():.0f} ms")


if __name__ == "__main__":
    main()
