"""The national view's rollups (issue 37), on SQLite and PostgreSQL: a province's refresh
computes its institutions' levels and balances, its districts' coverage, its open cases and
its wind-downs, writes only what changed, deletes what is gone, and never touches the rows of
a province it holds no institution of (on the national database: what the subscriptions
brought)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, update

from service.flows import winddowns
from service.flows.deposits import DepositIn, receive
from service.kit.db import make_sessionmaker, run_in_transaction
from service.national import rollups
from service.national.models import (
    NationalAlert,
    NationalDistrict,
    NationalInstitution,
    NationalProvince,
    NationalWindDown,
)
from service.registry.credentials import create_regulator
from service.registry.models import Bank, Institution, Regulator
from service.risk.models import Alert, InstitutionRisk
from tests import factories

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _refresh(engine: Engine, at: datetime) -> dict[str, int]:
    return run_in_transaction(make_sessionmaker(engine), lambda s: rollups.refresh(s, now=at))


def _deposit(engine: Engine, bank_id: str, inst: str, amount: str) -> None:
    def work(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        account = s.get(Institution, inst)
        assert account is not None
        data = DepositIn(bank_txn_id=f"T{inst}{amount}", account_no=account.escrow_account_no,
                         payment_reference="no such enrollment", amount=Decimal(amount),
                         paid_at=T0)  # fmt: skip
        receive(s, bank=s.get(Bank, bank_id), data=data, now=T0)  # type: ignore[arg-type]

    run_in_transaction(make_sessionmaker(engine), work)


def test_a_province_rollup_is_computed_and_only_changes_are_written(fresh_engine: Engine) -> None:
    sessions = make_sessionmaker(fresh_engine)
    # A row another province sent (as a subscription would have): never the refresh's to touch.
    elsewhere = {"province": "440000", "refreshed_at": T0, "institutions": 7, "critical": 1,
                 "high": 0, "medium": 0, "low": 6, "unevaluated": 0, "escrow": Decimal("5.00"),
                 "owed": Decimal("5.00"), "with_statement": 0, "escrow_reported": Decimal(0),
                 "bank_balance": Decimal(0), "open_alerts": 1, "open_wind_downs": 0}  # fmt: skip
    run_in_transaction(sessions, lambda s: s.add(NationalProvince(**elsewhere)))
    assert _refresh(fresh_engine, T0) == {"provinces": 0, "rows_written": 0}

    bank = factories.bank(fresh_engine)
    a, _ = factories.institution(fresh_engine, bank.id, region="220102")
    b, _ = factories.institution(fresh_engine, bank.id, region="220402")
    c, _ = factories.institution(fresh_engine, bank.id, region="220102")
    # One in another province (the factory's office is Jilin's): a database holding two.
    run_in_transaction(sessions, lambda s: s.execute(
        update(Institution).where(Institution.id == c).values(region_code="210102")))  # fmt: skip
    _deposit(fresh_engine, bank.id, a, "1000.50")
    _deposit(fresh_engine, bank.id, c, "20.00")

    def flag(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        s.add(InstitutionRisk(institution_id=a, score=80, level="critical", as_of=T0))
        s.add(InstitutionRisk(institution_id=b, score=10, level="low", as_of=T0))
        s.add(Alert(id="alr_national_test", institution_id=a, level="critical", score=80,
                    status="open", opened_at=T0, indicators=[], opened_level="critical"))  # fmt: skip
        office = s.get(Regulator, create_regulator(s, name="吉林省", region_code="220000",
                                                   now=T0).id)  # fmt: skip
        assert office is not None
        winddowns.open_wind_down(s, regulator=office, institution_id=b,
                                 reason=winddowns.Reason.ABSCONDED, effective_at=T0,
                                 note="负责人失联", now=T0)  # fmt: skip

    run_in_transaction(sessions, flag)
    first = _refresh(fresh_engine, T0 + timedelta(seconds=15))
    assert first["provinces"] == 2
    with sessions() as s:
        jilin = s.get(NationalProvince, "220000")
        assert jilin is not None
        assert (jilin.institutions, jilin.critical, jilin.low, jilin.unevaluated) == (2, 1, 1, 0)
        assert jilin.escrow == Decimal("1000.50") and jilin.open_alerts == 1
        assert jilin.refreshed_at == T0 + timedelta(seconds=15)
        liaoning = s.get(NationalProvince, "210000")
        assert liaoning is not None
        assert (liaoning.institutions, liaoning.unevaluated, liaoning.escrow) == (
            1, 1, Decimal("20.00"))  # fmt: skip
        inst = s.get(NationalInstitution, ("220000", a))
        assert inst is not None and inst.level == "critical" and inst.escrow == Decimal("1000.50")
        assert inst.bank_balance is None  # the bank has not reported
        districts = {d.region_code: d for d in s.scalars(select(NationalDistrict))}
        assert set(districts) == {"220102", "220402", "210102"}
        assert districts["220102"].critical == 1 and districts["220402"].institutions == 1
        assert [x.alert_id for x in s.scalars(select(NationalAlert))] == ["alr_national_test"]
        (wd,) = s.scalars(select(NationalWindDown))
        assert (wd.province, wd.institution_id, wd.reason, wd.status) == (
            "220000", b, "absconded", "open")  # fmt: skip
        assert jilin.open_wind_downs == 1 and liaoning.open_wind_downs == 0
        wound = s.get(NationalInstitution, ("220000", b))
        assert wound is not None and wound.status == "winding_down"
        assert s.get(NationalProvince, "440000") is not None  # untouched

    # Nothing changed: only each province's own row (its as-of) is written again.
    again = _refresh(fresh_engine, T0 + timedelta(seconds=30))
    assert again == {"provinces": 2, "rows_written": 2}

    # A level lowered and the case closed: one institution row updated, the case deleted.
    def settle(s: object) -> None:
        from sqlalchemy.orm import Session

        assert isinstance(s, Session)
        s.execute(update(InstitutionRisk).where(InstitutionRisk.institution_id == a)
                  .values(level="medium", score=40))  # fmt: skip
        s.execute(update(Alert).where(Alert.id == "alr_national_test")
                  .values(status="resolved", resolved_at=T0))  # fmt: skip

    run_in_transaction(sessions, settle)
    third = _refresh(fresh_engine, T0 + timedelta(seconds=45))
    # 2 province rows, the institution, its district (critical 1 → 0), the case deleted.
    assert third == {"provinces": 2, "rows_written": 5}
    with sessions() as s:
        jilin = s.get(NationalProvince, "220000")
        assert jilin is not None and (jilin.critical, jilin.medium, jilin.open_alerts) == (0, 1, 0)
        assert s.scalars(select(NationalAlert)).first() is None
        assert s.get(NationalProvince, "440000") is not None
