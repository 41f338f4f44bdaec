"""The national view on this machine (issue 37): two provinces and the national database,
each a scratch PostgreSQL 15 server of its own (initdb, pg_ctl, ports of their own, never
5432), joined by logical replication.

Each province: `wal_level = logical`, the service's tables migrated, institutions seeded in
its own districts (levels, money, open cases, a wind-down), a scheduler (`tuitionguard
scheduler`) whose `national_rollups` job keeps the rollup tables current, and a publication
of those tables (`CREATE PUBLICATION tg_national FOR TABLE national_…`). The national
database: the same migration (so the same tables), one subscription per province
(`CREATE SUBSCRIPTION tg_<province> … PUBLICATION tg_national`), and an API process whose
workbench the national regulator (region 100000) signs in to.

`python -m tools.cluster.national` (`make national`) starts all of it, checks that both
provinces reach the national database and the national workbench shows them with their
as-of, prints the addresses, and stops everything and removes its folder (`--hold` stays up
until Ctrl-C). bench/national.py measures the national rollups' lag behind the provinces."""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from service.flows import onboarding, winddowns
from service.flows.deposits import DepositIn, receive
from service.kit.db import make_engine, make_sessionmaker, run_in_transaction
from service.kit.migrate import upgrade
from service.national.rollups import EVERY_SECONDS
from service.registry.credentials import create_bank, create_regulator
from service.registry.identifiers import make_credit_code
from service.registry.institutions import NewInstitution
from service.registry.models import Bank, Institution, Regulator
from service.risk.models import Alert, InstitutionRisk
from service.tables import load_reference
from tools.cluster import pglocal

SECRET_KEY = "national-local-secret-0123456789"  # noqa: S105 - a scratch stack's, thrown away
PUBLICATION = "tg_national"  # the publication, and its subscriber's slot on each province
PUBLICATION_SQL = Path(__file__).resolve().parents[2] / "deploy" / "province" / "publication.sql"
# Two provinces and a few districts of each (GB/T 2260).
PROVINCES = {"220000": ("220102", "220104", "220402"), "210000": ("210102", "210103", "210202")}
LEVELS = (("low", 0.6), ("medium", 0.2), ("high", 0.12), ("critical", 0.08))


def rollups_every() -> int:
    """How often a province's scheduler refreshes its rollups (the job's interval), seconds."""
    return EVERY_SECONDS


def missing() -> list[str]:
    why = pglocal.available()
    return [why] if why else []


@dataclass
class Province:
    code: str
    server: pglocal.Server
    engine: Engine
    bank_id: str = ""
    institutions: list[str] = field(default_factory=list)  # those open to deposits
    scheduler: subprocess.Popen[bytes] | None = None


@dataclass
class Federation:
    root: Path
    provinces: dict[str, Province] = field(default_factory=dict)
    national: pglocal.Server | None = None
    national_engine: Engine | None = None
    api: subprocess.Popen[bytes] | None = None
    api_port: int = 0
    regulator_token: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # ------------------------------------------------------------------ up
    def start(self, *, institutions: int = 200, seed: int = 37) -> None:
        rng = random.Random(seed)
        for code in PROVINCES:
            server = pglocal.primary(self.root, name=f"p{code}", wal_level="logical")
            engine = _migrated(server.url)
            self.provinces[code] = Province(code, server, engine)
        self.national = pglocal.primary(self.root, name="national")
        self.national_engine = _migrated(self.national.url)
        for p in self.provinces.values():
            _seed(p, institutions, rng)
            _sql(p.server, PUBLICATION_SQL.read_text())
            p.scheduler = self._spawn([sys.executable, "-m", "service.cli", "scheduler"],
                                      self.env(p.server.url), f"scheduler-{p.code}")  # fmt: skip
        for p in self.provinces.values():
            _sql(self.national, f"CREATE SUBSCRIPTION tg_{p.code} CONNECTION "
                 f"'host=127.0.0.1 port={p.server.port} user=postgres dbname=postgres' "
                 f"PUBLICATION {PUBLICATION} WITH (slot_name = '{PUBLICATION}')")  # fmt: skip
        self.api_port = pglocal.free_port()
        self.api = self._spawn([sys.executable, "-m", "service.cli", "serve", "--port",
                                str(self.api_port), "--no-scheduler"],
                               self.env(self.national.url), "national-api")  # fmt: skip
        self.regulator_token = run_in_transaction(
            make_sessionmaker(self.national_engine),
            lambda s: create_regulator(s, name="国家监管平台", region_code="100000",
                                       now=datetime.now(UTC)).credential,
        )  # fmt: skip
        pglocal.wait_until(lambda: httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200,
                           120, "the national API")  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, url: str) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": url, "ENVIRONMENT": "test",
                "SECRET_KEY": SECRET_KEY, "LOG_SIGNING_KEY": "6e" * 32,
                "LOG_LEVEL": "WARNING", "DATABASE_POOL_SIZE": "5"}  # fmt: skip

    def _spawn(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    # ------------------------------------------------------------------ state
    def national_rows(self) -> dict[str, datetime]:
        """Each province's as-of in the national database."""
        assert self.national is not None
        with psycopg.connect(_dsn(self.national)) as c:
            rows = c.execute("SELECT province, refreshed_at FROM national_provinces").fetchall()
        return {str(p): at for p, at in rows}

    def subscriptions(self) -> list[dict[str, Any]]:
        assert self.national is not None
        with psycopg.connect(_dsn(self.national)) as c:
            cur = c.execute(
                "SELECT subname, received_lsn::text, latest_end_time FROM "
                "pg_stat_subscription WHERE relid IS NULL ORDER BY subname"
            )
            return [dict(zip(("name", "received_lsn", "latest_end_time"), r, strict=True))
                    for r in cur.fetchall()]  # fmt: skip

    def national_page(self) -> str:
        """The national regulator's page, signed in with the office's token."""
        with httpx.Client(base_url=self.base, timeout=30, follow_redirects=False) as c:
            c.get("/workbench/sign-in?lang=zh")
            form = {"token": self.regulator_token, "csrf": c.cookies["tg_csrf"]}
            r = c.post("/workbench/sign-in", data=form)
            assert r.status_code == 303, r.status_code
            return c.get("/workbench/national").text

    # ------------------------------------------------------------------ down
    def stop(self) -> None:
        if self.national is not None and (self.national.data / "postmaster.pid").exists():
            for code in self.provinces:  # each drops its slot on its province while both are up
                try:
                    _sql(self.national, f"DROP SUBSCRIPTION IF EXISTS tg_{code}")
                except psycopg.Error:
                    pass
        for proc in self.procs:
            _end(proc)
        for engine in [p.engine for p in self.provinces.values()] + [self.national_engine]:
            if engine is not None:
                engine.dispose()
        for server in [p.server for p in self.provinces.values()] + [self.national]:
            if server is not None:
                server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _migrated(url: str) -> Engine:
    upgrade(url)
    engine = make_engine(url)
    run_in_transaction(make_sessionmaker(engine),
                       lambda s: load_reference(s, now=datetime.now(UTC)))  # fmt: skip
    return engine


def _dsn(server: pglocal.Server) -> str:
    return f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"


def _sql(server: pglocal.Server, statement: str) -> None:
    with psycopg.connect(_dsn(server), autocommit=True) as c:
        c.execute(statement.encode())


def _end(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _seed(p: Province, n: int, rng: random.Random) -> None:
    """`n` institutions over the province's districts, each with money in escrow (deposits
    the bank reported), a level as a sweep would have left it, an open case for the critical
    ones, and one wind-down."""
    now = datetime.now(UTC)

    def work(s: Session) -> None:
        reg = s.get(Regulator, create_regulator(s, name=f"省级监管 {p.code}",
                                                region_code=p.code, now=now).id)  # fmt: skip
        assert reg is not None
        p.bank_id = create_bank(s, name="省托管银行", code=f"N{p.code}", instruction_url=None,
                                secret_key=SECRET_KEY, now=now).id  # fmt: skip
        for i in range(n):
            district = PROVINCES[p.code][i % len(PROVINCES[p.code])]
            account = f"62{p.code[:2]}{uuid.uuid4().int % 10**12:012d}"
            data = NewInstitution(
                name=f"培训学校{p.code[:2]}-{i:05d}",
                credit_code=make_credit_code("52", district, f"MA{rng.randrange(10**6):06d}"),
                region_code=district, category="subject", supervision_mode="custody",
                bank_id=p.bank_id, escrow_account_no=account,
            )  # fmt: skip
            inst, _key = onboarding.register_institution(s, regulator=reg, data=data, now=now)
            p.institutions.append(inst.id)
        s.flush()
        for inst_id in p.institutions:
            deposit(s, p, inst_id, Decimal(rng.randrange(1000, 500000)) / 100, now)
            level = rng.choices([lv for lv, _ in LEVELS], [w for _, w in LEVELS])[0]
            s.add(InstitutionRisk(institution_id=inst_id, score=rng.randrange(100), level=level,
                                  as_of=now))  # fmt: skip
            if level == "critical":
                s.add(Alert(id=f"alr_{uuid.uuid4().hex[:16]}", institution_id=inst_id,
                            level=level, score=90, status="open", opened_at=now, indicators=[],
                            opened_level=level))  # fmt: skip
        # The last is wound up, and takes no more deposits: the list keeps those that do.
        winddowns.open_wind_down(s, regulator=reg, institution_id=p.institutions.pop(),
                                 reason=winddowns.Reason.ABSCONDED,
                                 effective_at=now - timedelta(hours=1), note="负责人失联",
                                 now=now)  # fmt: skip

    run_in_transaction(make_sessionmaker(p.engine), work)


def deposit(s: Session, p: Province, inst_id: str, amount: Decimal, now: datetime) -> None:
    """Money the bank reports into the institution's escrow account (matching no enrollment:
    suspense), as any deposit moves the institution's escrow."""
    account = s.scalar(select(Institution.escrow_account_no).where(Institution.id == inst_id))
    bank = s.get(Bank, p.bank_id)
    assert account is not None and bank is not None
    data = DepositIn(bank_txn_id=f"N{uuid.uuid4().hex[:20]}", account_no=account,
                     payment_reference="NATIONAL-LOAD", amount=amount, paid_at=now)  # fmt: skip
    receive(s, bank=bank, data=data, now=now)


class running:
    """`with running() as f:` the two provinces and the national database, stopped and removed
    on the way out, whatever happened."""

    def __init__(self, **start: Any) -> None:
        self.federation = Federation(Path(tempfile.mkdtemp(prefix="tg-national-")))
        self.start = start

    def __enter__(self) -> Federation:
        try:
            self.federation.start(**self.start)
        except BaseException:
            self.federation.stop()
            raise
        return self.federation

    def __exit__(self, *exc: object) -> None:
        self.federation.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--institutions", type=int, default=200, help="per province")
    parser.add_argument("--hold", action="store_true", help="stay up until Ctrl-C")
    args = parser.parse_args()
    lacking = missing()
    if lacking:
        print(f"national: skipped, {'; '.join(lacking)}")
        return 0
    began = time.monotonic()
    with running(institutions=args.institutions) as f:
        print(f"up in {time.monotonic() - began:.0f} s: provinces "
              + ", ".join(f"{c} on 127.0.0.1:{p.server.port}" for c, p in f.provinces.items())
              + f"; national on 127.0.0.1:{f.national.port if f.national else 0}")  # fmt: skip
        pglocal.wait_until(lambda: set(f.national_rows()) == set(PROVINCES), 120,
                           "both provinces in the national database")  # fmt: skip
        print(f"both provinces reached the national database "
              f"{time.monotonic() - began:.0f} s after the start")  # fmt: skip
        page = f.national_page()
        shown = re.findall(r'<tr data-province="(\d{6})">', page)
        print(f"the national workbench ({f.base}/workbench/national) shows: {shown}")
        for s in f.subscriptions():
            print(f"  subscription {s['name']}: received {s['received_lsn']}, "
                  f"latest end {s['latest_end_time']}")  # fmt: skip
        ok = sorted(shown) == sorted(PROVINCES)
        if args.hold:
            print(f"token of the national regulator: {f.regulator_token}; Ctrl-C stops it")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    print("stopped and removed")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
