"""The console script, run as a real process against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.kit.db import make_engine, make_sessionmaker, session_scope
from service.registry.credentials import regulator_by_token


@pytest.fixture(autouse=True)
def _migrated(engine: Engine) -> None:
    """Every command here runs against a migrated database, whichever test runs first."""


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "test-secret-key-0123456789",
        "LOG_SIGNING_KEY": "ab" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_regulator_create_prints_token_last(database_url: str, engine: Engine) -> None:
    out = run_cli(database_url, "regulator", "create", "--name", "Liaoyuan", "--region", "220400")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    with session_scope(make_sessionmaker(engine)) as s:
        reg = regulator_by_token(s, token)
        assert reg is not None and reg.region_code == "220400"


def test_regulator_create_rejects_unknown_region(database_url: str) -> None:
    out = run_cli(database_url, "regulator", "create", "--name", "X", "--region", "999999")
    assert out.returncode != 0


def test_officer_create_prints_credentials_last(database_url: str, engine: Engine) -> None:
    """`officer create` makes a person of the region's office who can sign in (issue 32)."""
    from datetime import UTC, datetime

    import pyotp

    from service.registry import officers

    made = run_cli(database_url, "regulator", "create", "--name", "Baishan", "--region", "220600")
    assert made.returncode == 0, made.stderr
    out = run_cli(database_url, "officer", "create", "--region", "220600", "--name", "Zhao Min",
                  "--role", "supervisor")  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(printed) == {"officer_id", "username", "password", "totp_secret"}
    with session_scope(make_sessionmaker(engine)) as s:
        officer = officers.authenticate(
            s, username=printed["username"], password=printed["password"],
            totp=pyotp.TOTP(printed["totp_secret"]).now(), client="cli-test",
            now=datetime.now(UTC), secret_key="test-secret-key-0123456789",
        )  # fmt: skip
        assert officer is not None and officer.role == "supervisor"
    bad = run_cli(database_url, "officer", "create", "--region", "999999", "--name", "X",
                  "--role", "viewer")  # fmt: skip
    assert bad.returncode == 2 and "not_found" in bad.stderr


def test_officer_reset_totp_prints_the_new_secret_last(database_url: str, engine: Engine) -> None:
    """`officer reset-totp`: for an office whose only admin cannot sign in (a lost phone, or a
    secret stored under an earlier SECRET_KEY)."""
    from datetime import UTC, datetime

    import pyotp

    from service.registry import officers

    assert run_cli(database_url, "regulator", "create", "--name", "Tonghua", "--region",
                   "220500").returncode == 0  # fmt: skip
    out = run_cli(database_url, "officer", "create", "--region", "220500", "--name", "Sun Li",
                  "--role", "admin")  # fmt: skip
    made = json.loads(out.stdout.strip().splitlines()[-1])
    out = run_cli(database_url, "officer", "reset-totp", "--username", made["username"])
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(printed) == {"officer_id", "username", "totp_secret", "otpauth_uri"}
    assert printed["totp_secret"] != made["totp_secret"]
    with session_scope(make_sessionmaker(engine)) as s:
        officer = officers.authenticate(
            s, username=made["username"], password=made["password"],
            totp=pyotp.TOTP(printed["totp_secret"]).now(), client="cli-test",
            now=datetime.now(UTC), secret_key="test-secret-key-0123456789",
        )  # fmt: skip
        assert officer is not None
    bad = run_cli(database_url, "officer", "reset-totp", "--username", "nobody.here")
    assert bad.returncode == 2 and "not_found" in bad.stderr


def test_bank_create_prints_json_last(database_url: str) -> None:
    out = run_cli(
        database_url,
        "bank",
        "create",
        "--name",
        "Jilin Bank",
        "--code",
        f"JL{os.getpid()}",
        "--instruction-url",
        "http://127.0.0.1:9/x",
    )
    assert out.returncode == 0, out.stderr
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(last) == {"bank_id", "secret"} and len(last["secret"]) >= 32


def test_production_refuses_placeholder_secret(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "production"}
    env.pop("SECRET_KEY", None)
    out = subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "SECRET_KEY" in out.stderr


@pytest.mark.parametrize("command", [["ledger", "verify"]])
def test_ledger_verify_clean(database_url: str, command: list[str]) -> None:
    out = run_cli(database_url, *command)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["ok"] is True


def test_ledger_anchor_then_verify_against_it(database_url: str, tmp_path: Path) -> None:
    """The day's publication logs the anchor; `ledger anchor` writes it out as the log holds
    it; `ledger verify --anchor` checks the ledger against it, and refuses (exit 2) a file
    whose entry was edited or whose checkpoint the log did not sign."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat()
    out = run_cli(database_url, "job", "run", "proof_publish", "--as-of", now)
    assert out.returncode == 0, out.stdout + out.stderr
    anchor = tmp_path / "anchor.json"
    out = run_cli(database_url, "ledger", "anchor", "--out", str(anchor))
    assert out.returncode == 0, out.stdout + out.stderr
    written = json.loads(anchor.read_text())
    assert json.loads(out.stdout)["entry"]["kind"] == "ledger_anchor"
    assert set(written) == {"index", "entry", "inclusion", "checkpoint"}
    out = run_cli(database_url, "ledger", "verify", "--anchor", str(anchor))
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["anchor_checked"] is True
    entry = json.loads(written["entry"])
    edited = {**written, "entry": written["entry"].replace(entry["digest"], "f" * 64)}
    anchor.write_text(json.dumps(edited))
    out = run_cli(database_url, "ledger", "verify", "--anchor", str(anchor))
    assert out.returncode == 2 and "inclusion" in json.loads(out.stdout)["error"]
    unsigned = {**written, "checkpoint": written["checkpoint"].split("\n\n")[0] + "\n\n"}
    anchor.write_text(json.dumps(unsigned))
    out = run_cli(database_url, "ledger", "verify", "--anchor", str(anchor))
    assert out.returncode == 2, out.stdout


def test_serve_with_workers_refuses_to_run_the_scheduler_in_each(database_url: str) -> None:
    out = run_cli(database_url, "serve", "--workers", "2", "--port", "1")
    assert out.returncode == 2 and "--no-scheduler" in out.stderr


def test_job_run_refuses_a_future_as_of(database_url: str, engine: Engine) -> None:
    """The clock bound holds however a job is started (issue: holes, item 1)."""
    from datetime import UTC, datetime, timedelta

    future = (datetime.now(UTC) + timedelta(days=8)).isoformat()
    for name in ("idempotency_purge", "release_batch", "risk_sweep"):
        out = run_cli(database_url, "job", "run", name, "--as-of", future)
        assert out.returncode == 2, out.stdout
        assert "as_of_in_future" in out.stderr
    ok = run_cli(database_url, "job", "run", "idempotency_purge")
    assert ok.returncode == 0, ok.stderr


def test_only_a_scratch_database_gives_up_durability(tmp_path: Path) -> None:
    """A backtest's throwaway SQLite file skips waiting for the disk; any other keeps WAL and
    its syncs."""
    for scratch, expected in ((True, ("memory", 0)), (False, ("wal", 1))):
        engine = make_engine(f"sqlite:///{tmp_path}/{scratch}.db", scratch=scratch)
        with engine.connect() as c:
            mode = c.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = c.exec_driver_sql("PRAGMA synchronous").scalar()
        engine.dispose()
        assert (mode, sync) == expected


def test_credit_list_add_show_remove(database_url: str, engine: Engine) -> None:
    """The lists an entry gate refuses on, kept from the command line (the demo seeds them so):
    as a regulator of the region, audited; another region's regulator does not see it."""
    from tests import factories

    bank = factories.bank(engine)
    inst_id, _ = factories.institution(engine, bank.id, "220302")
    reg_id, _ = factories.regulator(engine, "220300")
    other, _ = factories.regulator(engine, "330000")
    base = ["--list", "abnormal_operations", "--institution", inst_id, "--reason", "r"]
    out = run_cli(database_url, "credit-list", "add", *base, "--regulator", reg_id)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"list": "abnormal_operations", "institution_id": inst_id,
                                      "listed": True}  # fmt: skip
    assert run_cli(database_url, "credit-list", "add", *base, "--regulator", other).returncode == 2
    shown = run_cli(database_url, "credit-list", "show", "--regulator", reg_id)
    assert [e["institution_id"] for e in json.loads(shown.stdout)] == [inst_id]
    elsewhere = run_cli(database_url, "credit-list", "show", "--regulator", other)
    assert json.loads(elsewhere.stdout) == []
    out = run_cli(database_url, "credit-list", "remove", *base, "--regulator", reg_id)
    assert out.returncode == 0 and json.loads(out.stdout)["listed"] is False, out.stderr
    assert run_cli(database_url, "credit-list", "remove", *base).returncode == 2  # not on it
