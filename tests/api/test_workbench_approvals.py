"""The approvals queue of the workbench (issue 32, four eyes): an officer's unfreeze form and
threshold form answer "submitted for approval" and change nothing; a supervisor of the office
sees the request in full in the queue, with its count on the overview, and approves or rejects
it with a note (CSRF as every form); the requester and an officer see why they may not decide.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service.pages import i18n, labels
from service.pages.workbench.common import SUBMITTED
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_officers import _page_sign_in
from tests.api.told import told


def _pages(client: TestClient, engine: Engine, office: str, role: str) -> tuple[TestClient, str]:
    made = factories.officer(engine, office, role)
    pages = TestClient(client.app, follow_redirects=False, raise_server_exceptions=False)
    pages.cookies.update(_page_sign_in(pages, made))
    found = re.search(r'name="csrf" value="([^"]+)"', pages.get("/workbench").text)
    assert found is not None
    return pages, found.group(1)


def _count(page: str) -> int:
    found = re.search(r'data-testid="approvals-pending">[^<]*<strong>(\d+)</strong>', page)
    assert found is not None, page[:500]
    return int(found.group(1))


def test_an_unfreeze_and_a_threshold_wait_in_the_queue_and_a_supervisor_decides(
    client: TestClient, engine: Engine
) -> None:
    office, token = factories.regulator(engine, "220300")  # Siping
    bank = factories.bank(engine)
    inst = client.post("/api/v1/institutions", headers=bearer(token),
                       json=factories.institution_body(bank.id, region="220302")).json()["id"]  # fmt: skip
    officer, csrf = _pages(client, engine, office, "officer")
    chief, chief_csrf = _pages(client, engine, office, "supervisor")
    before = _count(chief.get("/workbench?lang=en").text)
    frozen = officer.post(
        f"/workbench/institutions/{inst}/freeze", data={"csrf": csrf, "reason": "停课"}
    )
    assert told(officer, frozen) == ("done", "Frozen.")  # protective: at once
    asked = officer.post(f"/workbench/institutions/{inst}/unfreeze",
                         data={"csrf": csrf, "reason": "已恢复上课"})  # fmt: skip
    assert told(officer, asked) == ("done", SUBMITTED)
    day = (factories.datetime.now(factories.UTC) + timedelta(days=5)).date().isoformat()
    rule = officer.post("/workbench/rules", data={
        "csrf": csrf, "region_code": "220302", "knob": "refund_overdue:weight", "value": "22",
        "effective_from": day, "reason": "铁西区退费投诉多"})  # fmt: skip
    assert told(officer, rule) == ("done", SUBMITTED)
    status = client.get(f"/api/v1/institutions/{inst}", headers=bearer(token)).json()["status"]
    assert status == "frozen"  # nothing done yet

    assert _count(chief.get("/workbench").text) == before + 2
    queue = chief.get("/workbench/approvals?lang=zh").text
    assert "解除机构冻结" in queue and "已恢复上课" in queue and "铁西区退费投诉多" in queue
    assert "当前状态" in queue and "批准后状态" in queue  # what it will do, in full
    ids = re.findall(r'<article class="card approval" id="(apr_[0-9a-f]+)"', queue)
    assert len(ids) >= 2
    mine = officer.get("/workbench/approvals?lang=zh").text  # an officer: no form, told why
    assert i18n.gettext("zh")(labels.REFUSALS["role_cannot_approve"]) in mine
    assert "/approve" not in mine
    for approval in ids:
        r = officer.post(
            f"/workbench/approvals/{approval}/approve", data={"csrf": csrf, "note": "x"}
        )
        assert r.status_code == 403  # an officer asks, a supervisor decides
    decided = {}
    for approval in ids:
        r = chief.post(f"/workbench/approvals/{approval}/approve",
                       data={"csrf": chief_csrf, "note": "核实无误"})  # fmt: skip
        decided[approval] = told(chief, r)
    assert ("done", "Approved: it is done.") in decided.values()
    status = client.get(f"/api/v1/institutions/{inst}", headers=bearer(token)).json()["status"]
    assert status == "active"
    again = chief.post(
        f"/workbench/approvals/{ids[0]}/reject", data={"csrf": chief_csrf, "note": "x"}
    )
    assert told(chief, again) == ("problem", labels.REFUSALS["approval_decided"])
    assert _count(chief.get("/workbench").text) == before
    done = chief.get("/workbench/approvals?status=approved&lang=en").text
    assert all(a in done for a in ids) and "核实无误" in done
