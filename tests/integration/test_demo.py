"""The newcomer's demo: seeding twice logs nobody out, `up` finds what holds its ports, and the
living history gives the workbench and the parent's page something to show."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.flows.models import Enrollment, Refund, StatementBreak
from service.kit.clock import local_date, utcnow
from service.kit.db import make_sessionmaker, session_scope
from service.registry.credentials import regulator_by_token
from service.registry.models import Bank, Institution, Regulator
from service.risk.models import Alert, DistrictDay
from tests.processes import free_port
from tools import demo, living
from tools.up import probe


def seeded(engine: Engine, settings: Settings, known: dict | None = None) -> dict:
    development = settings.model_copy(update={"environment": "development"})
    with session_scope(make_sessionmaker(engine)) as s:
        return demo.seed(s, settings=development, now=utcnow(), bank_url=None, known=known)


@pytest.mark.parametrize("environment", ["production", "test"])
def test_demo_seed_is_refused_outside_development(
    engine: Engine, settings: Settings, environment: str
) -> None:
    """Issue 31, finding 12: the demo's bank secret is published in the repository; seeded into
    a production database it would be a working custody-bank login. Refused, nothing written."""
    elsewhere = settings.model_copy(update={"environment": environment})
    before = logins(engine)
    with pytest.raises(DomainError) as refused, session_scope(make_sessionmaker(engine)) as s:
        demo.seed(s, settings=elsewhere, now=utcnow(), bank_url=None)
    assert refused.value.code == "development_only"
    assert environment in refused.value.detail
    assert logins(engine) == before


def test_the_demo_seed_command_is_refused_in_production(database_url: str, engine: Engine) -> None:
    """The console script says why and exits 2 before it migrates or writes anything."""
    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "production",
           "SECRET_KEY": "production-secret-0123456789", "LOG_SIGNING_KEY": "ab" * 32,
           "PUBLIC_BASE_URL": "https://tuitionguard.example.gov.cn"}  # fmt: skip
    before = logins(engine)
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "demo", "seed", "--no-history",
         "--credentials", os.devnull],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "refused (development_only)" in out.stderr
    assert "ENVIRONMENT=development" in out.stderr
    assert logins(engine) == before


def logins(engine: Engine) -> tuple[int, int]:
    """How many banks and regulators could sign in."""
    with Session(engine) as s:
        return (s.scalar(select(func.count()).select_from(Bank)) or 0,
                s.scalar(select(func.count()).select_from(Regulator)) or 0)  # fmt: skip


def test_a_second_seed_prints_the_same_credentials(engine: Engine, settings: Settings) -> None:
    first = seeded(engine, settings)
    again = seeded(engine, settings, known=first)
    assert again == first
    with Session(engine) as s:  # the first tokens still open the door
        assert regulator_by_token(s, first["regulators"]["220400"]["token"]) is not None


def test_each_demo_office_has_a_clerk_an_officer_and_a_chief_who_can_sign_in(
    engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 32: three people per office and an administrator, their credentials printed
    (development only) with the TOTP secret and an otpauth:// link; the same on every seed."""
    import pyotp

    from service.registry import officers
    from tools.cli import _tell_where

    first = seeded(engine, settings)
    for region, reg in first["regulators"].items():
        people = reg["officers"]
        assert [o["role"] for o in people] == ["viewer", "officer", "supervisor", "admin"]
        assert {o["username"] for o in people} == {f"{region}.clerk", f"{region}.officer",
                                                   f"{region}.chief", f"{region}.admin"}  # fmt: skip
        assert all(o["otpauth"].startswith("otpauth://totp/") for o in people)
    _tell_where(first, "http://127.0.0.1:8000")
    printed = capsys.readouterr().err
    for reg in first["regulators"].values():
        for o in reg["officers"]:
            assert f"{o['password']}  {o['totp_secret']}  {o['otpauth']}" in printed
    chief = first["regulators"]["220400"]["officers"][2]
    with session_scope(make_sessionmaker(engine)) as s:
        found = officers.authenticate(
            s, username=chief["username"], password=chief["password"],
            totp=pyotp.TOTP(chief["totp_secret"]).now(), client="demo-test", now=utcnow(),
            secret_key=settings.secret_key,
        )  # fmt: skip
        assert found is not None and found.role == "supervisor"
    assert seeded(engine, settings, known=first)["regulators"] == first["regulators"]


def test_each_demo_office_has_an_admin_who_creates_officers(
    engine: Engine, settings: Settings
) -> None:
    """The office's admin signs in and creates an officer (over the API; the workbench's
    Officers page is the same use case: tests/api/test_officers_admin.py)."""
    import pyotp
    from fastapi.testclient import TestClient

    from service.app import create_app

    first = seeded(engine, settings)
    (admin,) = [o for o in first["regulators"]["220400"]["officers"] if o["role"] == "admin"]
    with TestClient(create_app(settings, engine=engine)) as c:
        r = c.post("/api/v1/officer-sessions", json={
            "username": admin["username"], "password": admin["password"],
            "totp": pyotp.TOTP(admin["totp_secret"]).now()})  # fmt: skip
        assert r.status_code == 201 and r.json()["officer"]["role"] == "admin", r.text
        token = {"Authorization": f"Bearer {r.json()['token']}"}
        made = c.post("/api/v1/officers", headers=token, json={"name": "新同事", "role": "viewer"})
        assert made.status_code == 201, made.text


def test_a_lost_or_stale_credential_is_issued_afresh(engine: Engine, settings: Settings) -> None:
    first = seeded(engine, settings)
    stale = json.loads(json.dumps(first))
    stale["regulators"]["220400"]["token"] = "tgr_not-the-one"
    del stale["institutions"][0]
    again = seeded(engine, settings, known=stale)
    assert again["regulators"]["220400"]["token"] != first["regulators"]["220400"]["token"]
    assert again["regulators"]["220300"] == first["regulators"]["220300"]
    assert again["institutions"][0]["api_key"] != first["institutions"][0]["api_key"]
    assert again["institutions"][1:] == first["institutions"][1:]
    with Session(engine) as s:
        assert regulator_by_token(s, first["regulators"]["220400"]["token"]) is None


class _Answer(http.server.BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def listening() -> Iterator[tuple[int, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], handler
    server.shutdown()


def test_up_tells_free_from_ours_from_taken(listening: tuple[int, type[_Answer]]) -> None:
    port, handler = listening
    assert probe("127.0.0.1", free_port(), "/healthz") == "free"
    handler.body = b'{"status": "ok"}'
    assert probe("127.0.0.1", port, "/healthz") == "ours"
    handler.body = b"<html>somebody else</html>"
    assert probe("127.0.0.1", port, "/healthz") == "taken"


def test_up_refuses_a_port_another_program_holds(
    listening: tuple[int, type[_Answer]], tmp_path: Path
) -> None:
    from tools.up import up

    port, handler = listening
    handler.body = b"not json"
    assert up(host="127.0.0.1", port=port, bank_port=free_port(), tuitionguard="false") == 1
    handler.body = b'{"status": "ok"}'
    assert up(host="127.0.0.1", port=port, bank_port=free_port(), tuitionguard="false") == 0


def test_the_living_history_has_something_to_show(
    backend: str, fresh_engine: Engine, settings: Settings
) -> None:
    """Forty days of the demo's schools (make run replays 182): alerts, refunds, breaks, the
    overview's trend, and a parent who can sign in; replayed once."""
    if backend != "sqlite":
        pytest.skip("the demo is make run's, on the embedded SQLite")
    seeded(fresh_engine, settings)
    sessions = make_sessionmaker(fresh_engine)
    with Session(fresh_engine) as s:
        assert not living.present(s)
        province = s.scalar(select(demo.Regulator.id).where(demo.Regulator.region_code == "220000"))
    today = local_date(utcnow())
    parent = living.replay(sessions, settings, bank_id=demo.DEMO_BANK_ID,
                           regulator_id=str(province), today=today, days=40)  # fmt: skip
    assert parent is not None and parent.access_code
    with Session(fresh_engine) as s:
        assert living.present(s)
        n = s.scalar(select(func.count()).select_from(Institution))
        assert n == len(demo.INSTITUTIONS) + len(living.SCHOOLS)
        assert s.scalar(select(func.count()).select_from(Alert)) > 0
        assert s.scalar(select(func.count()).select_from(Refund)) > 0
        assert s.scalar(select(func.count()).select_from(StatementBreak)) > 0
        days = set(s.scalars(select(DistrictDay.day).where(DistrictDay.region_code == "220402")))
        assert today - timedelta(days=1) in days and len(days) >= 30
        # The replay files each student under the history's name for them, not its label.
        named = set(s.scalars(select(Enrollment.student_ref)))
        assert named and all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", n) for n in named), named


def test_the_demo_has_a_gym_under_the_fitness_pack_and_a_listed_school(
    engine: Engine, settings: Settings
) -> None:
    """Issue 33: the gym differs from a school only in data (its category and its region's
    office); its pack is Shanghai's fitness pack. A Siping school is on the abnormal-operations
    list, which Siping's entry gate names from 2027-01-01: enrolling there is refused then."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from service.policy import credit_lists, packs

    first = seeded(engine, settings)
    gym = next(i for i in first["institutions"] if i["region"] == "310104")
    with Session(engine) as s:
        inst = s.get(Institution, gym["id"])
        assert inst is not None and inst.category == "fitness"
        pack = packs.for_institution(s, inst, on=local_date(utcnow()))
        assert pack.sector == "fitness"
        caps = pack.values.prepay_caps
        assert (caps.months, caps.amount, caps.per_consumer) == (24, Decimal(20000), Decimal(20000))
        assert pack.values.card_caps is not None
        school = s.scalar(select(Institution).where(Institution.region_code == "220322"))
        assert school is not None
        listed_on = credit_lists.listed_on(s, school.id, ("abnormal_operations",), utcnow())
        assert listed_on == "abnormal_operations"
        gate = packs.for_institution(s, school, on=datetime(2027, 1, 4, tzinfo=UTC).date())
        assert "abnormal_operations" in gate.values.entry_gate.credit_lists
    again = seeded(engine, settings, known=first)  # listed once, whatever the seeds
    assert [i["id"] for i in again["institutions"]] == [i["id"] for i in first["institutions"]]
    with Session(engine) as s:
        mine = [e for e in credit_lists.entries(s, regulator=None) if e.institution_id == school.id]
        assert len(mine) == 1
