"""A bank's secret rotated with an overlap: the old and the new both verify the bank's requests
until the overlap ends, then only the new; only one previous secret is ever valid. On SQLite
and PostgreSQL, and through the console command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.errors import DomainError
from service.kit.db import make_sessionmaker, run_in_transaction
from service.registry.credentials import Rotated, rotate_bank_secret
from service.registry.models import Bank
from tests import factories
from tests.api.test_plumbing import assert_problem
from tests.integration.test_cli import run_cli

PATH = "/api/v1/bank/whoami"


def rotate(engine: Engine, bank_id: str, overlap: timedelta, now: datetime) -> Rotated:
    return run_in_transaction(
        make_sessionmaker(engine),
        lambda s: rotate_bank_secret(
            s, bank_id=bank_id, secret_key=factories.SECRET_KEY, overlap=overlap, now=now
        ),
    )


def answers(client: TestClient, cred: factories.BankCred) -> int:
    return client.get(PATH, headers=cred.headers("GET", PATH)).status_code


def test_old_and_new_secrets_both_verify_during_the_overlap(
    client: TestClient, engine: Engine
) -> None:
    old = factories.bank(engine)
    done = rotate(engine, old.id, timedelta(hours=1), datetime.now(UTC))
    new = factories.BankCred(old.id, done.secret)
    assert done.secret != old.secret
    assert answers(client, old) == 200
    assert answers(client, new) == 200
    assert answers(client, factories.BankCred(old.id, "neither")) == 401


def test_after_the_overlap_only_the_new_secret_verifies(client: TestClient, engine: Engine) -> None:
    old = factories.bank(engine)
    done = rotate(engine, old.id, timedelta(minutes=1), datetime.now(UTC) - timedelta(minutes=5))
    resp = client.get(PATH, headers=old.headers("GET", PATH))
    assert_problem(resp, 401, "invalid_signature")
    assert answers(client, factories.BankCred(old.id, done.secret)) == 200


def test_a_second_rotation_drops_the_first_secret_at_once(
    client: TestClient, engine: Engine
) -> None:
    first = factories.bank(engine)
    now = datetime.now(UTC)
    second = factories.BankCred(first.id, rotate(engine, first.id, timedelta(hours=1), now).secret)
    third = factories.BankCred(first.id, rotate(engine, first.id, timedelta(hours=1), now).secret)
    assert answers(client, first) == 401
    assert answers(client, second) == 200
    assert answers(client, third) == 200


@pytest.mark.parametrize(
    ("overlap", "code"),
    [(timedelta(days=8), "invalid_overlap"), (-timedelta(1), "invalid_overlap")],
)
def test_an_overlap_out_of_bounds_is_refused_and_changes_nothing(
    client: TestClient, engine: Engine, overlap: timedelta, code: str
) -> None:
    bank = factories.bank(engine)
    with pytest.raises(DomainError) as refused:
        rotate(engine, bank.id, overlap, datetime.now(UTC))
    assert refused.value.code == code
    with make_sessionmaker(engine)() as s:
        row = s.get_one(Bank, bank.id)
        assert row.previous_secret_ciphertext is None and row.previous_secret_until is None
    assert answers(client, bank) == 200


def test_an_unknown_bank_is_not_found(engine: Engine) -> None:
    with pytest.raises(DomainError) as refused:
        rotate(engine, "bank_nope", timedelta(hours=1), datetime.now(UTC))
    assert refused.value.code == "not_found"


def test_the_console_rotates_and_prints_the_new_secret(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    old = factories.bank(engine)
    out = run_cli(database_url, "bank", "rotate-secret", "--bank-id", old.id,
                  "--overlap-hours", "2")  # fmt: skip
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    until = datetime.fromisoformat(printed["previous_valid_until"])
    assert timedelta(hours=1.9) < until - datetime.now(UTC) <= timedelta(hours=2)
    assert answers(client, factories.BankCred(old.id, printed["secret"])) == 200
    assert answers(client, old) == 200
    refused = run_cli(database_url, "bank", "rotate-secret", "--bank-id", old.id,
                      "--overlap-hours", "500")  # fmt: skip
    assert refused.returncode == 2 and "invalid_overlap" in refused.stderr


@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "1e300", "soon"])
def test_the_console_refuses_an_overlap_that_is_not_a_number_of_hours(
    engine: Engine, database_url: str, hours: str
) -> None:
    bank = factories.bank(engine)
    out = run_cli(database_url, "bank", "rotate-secret", "--bank-id", bank.id,
                  f"--overlap-hours={hours}")  # fmt: skip
    assert out.returncode == 2 and "is not a number of hours" in out.stderr
    assert "Traceback" not in out.stderr
    with make_sessionmaker(engine)() as s:
        assert s.get_one(Bank, bank.id).previous_secret_ciphertext is None
