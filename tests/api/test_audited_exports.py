"""What leaves the workbench, and who knocked on its door, is on the audit log (issue 31,
finding 10): every CSV export (the audit log's own included) with who took it, its filter,
its rows and when; every failed sign-in with the client's address and nothing of the token
given. Over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from service.kit.db import make_sessionmaker
from service.kit.ids import token_hash
from service.registry.models import AuditEvent, Regulator
from tests.api.test_workbench_pages import Site, sign_in, site  # noqa: F401 (the fixture)


def _events(site: Site, action: str) -> list[AuditEvent]:  # noqa: F811
    with make_sessionmaker(site.engine)() as s:
        found = s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                          .order_by(AuditEvent.at, AuditEvent.id))  # fmt: skip
        return list(found)


def _regulator(site: Site, region: str) -> Regulator:  # noqa: F811
    with make_sessionmaker(site.engine)() as s:
        found = s.scalar(select(Regulator).where(
            Regulator.token_hash == token_hash(site.shown.tokens[region])))  # fmt: skip
        assert found is not None
        return found


def _rows(text: str) -> int:
    return len(list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))) - 1


def test_every_export_is_audited_with_who_what_filter_and_when(site: Site) -> None:  # noqa: F811
    c = site.client()
    sign_in(c, site.shown.tokens["220100"])
    reg = _regulator(site, "220100")
    before = len(_events(site, "export:institutions"))
    r = c.get("/workbench/institutions.csv", params={"status": "active", "q": "学校"})
    assert r.status_code == 200
    events = _events(site, "export:institutions")
    assert len(events) == before + 1
    e = events[-1]
    assert (e.actor, e.region_code, e.subject) == (f"regulator:{reg.id}", "220100",
                                                    "institutions.csv")  # fmt: skip
    assert e.detail["filters"]["status"] == "active" and e.detail["filters"]["q"] == "学校"
    assert e.detail["rows"] == _rows(r.text)
    assert e.at == site.clock.now

    # The audit log's own export is audited, and shows in the next one.
    first = c.get("/workbench/audit.csv", params={"action": "export", "lang": "en"})
    assert first.status_code == 200 and "Exported the list of institutions (CSV)" in first.text
    own = _events(site, "export:audit")[-1]
    assert own.actor == f"regulator:{reg.id}" and own.detail["filters"] == {"action": "export"}
    assert own.detail["rows"] == _rows(first.text)
    again = c.get("/workbench/audit.csv", params={"action": "export:audit", "lang": "en"}).text
    assert "Exported the audit log (CSV)" in again and _rows(again) >= 1  # the first, a row
    assert "Exported the list of institutions (CSV)" in c.get("/workbench/audit?lang=en").text


def test_a_failed_sign_in_is_audited_with_the_address_and_no_secret(
    site: Site,  # noqa: F811
) -> None:
    c = site.client()
    c.get("/workbench/sign-in")
    wrong = site.shown.tokens["220100"][:-3] + "xyz"  # most of a real token
    before = len(_events(site, "session:sign_in_failed"))
    r = c.post("/workbench/sign-in", data={"token": wrong, "csrf": c.cookies["tg_csrf"]})
    assert r.status_code == 303 and "sign-in" in r.headers["location"]
    events = _events(site, "session:sign_in_failed")
    assert len(events) == before + 1
    e = events[-1]
    assert e.detail == {"address": "testclient"} and e.subject == "testclient"
    with make_sessionmaker(site.engine)() as s:
        everything = " ".join(
            f"{a.actor} {a.subject} {a.detail}" for a in s.scalars(select(AuditEvent))
        )
    assert wrong not in everything and wrong[:20] not in everything
    assert token_hash(wrong) not in everything
