"""A regulator lists and revokes a supervised institution's API keys (a leaked key, a retired
system): an officer or above of an office whose region holds the institution, over the API and
from the institution's workbench page; the key stops at once, the audit record names the
officer; a viewer may list but not revoke (403 `role_forbidden`); another region's office gets
404, as every scoped route; the last live key stays (409 `last_key`). On SQLite and
PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from service.kit.db import make_sessionmaker, session_scope
from service.registry.models import AuditEvent
from tests import factories
from tests.api.conftest import bearer
from tests.api.test_officers_admin import _csrf, _pages


def _school(client: TestClient, engine: Engine) -> tuple[str, str, str]:
    """An institution of Changchun (220102) with two live keys: (id, its first key, a second
    key's id)."""
    bank = factories.bank(engine)
    inst, key = factories.institution(engine, bank.id, "220102")
    r = client.post("/api/v1/api-keys", headers=bearer(key), json={"name": "billing system"})
    assert r.status_code == 201, r.text
    return inst, key, r.json()["id"]


def _works(client: TestClient, key: str) -> bool:
    r = client.get("/api/v1/balances", headers=bearer(key))
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def test_an_officer_lists_and_revokes_an_institutions_key(
    client: TestClient, engine: Engine
) -> None:
    inst, key, _billing = _school(client, engine)
    reg_id, _ = factories.regulator(engine, "220000")
    officer = factories.officer(engine, reg_id, role="officer")
    token = factories.officer_session(engine, officer.officer_id)
    listed = client.get(f"/api/v1/institutions/{inst}/api-keys", headers=bearer(token))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert {k["name"] for k in items} == {"first key", "billing system"}
    assert all("api_key" not in k and "key_hash" not in k for k in items)
    (first,) = [k for k in items if k["name"] == "first key"]
    assert _works(client, key)
    r = client.post(f"/api/v1/institutions/{inst}/api-keys/{first['id']}/revoke",
                    headers=bearer(token))  # fmt: skip
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    assert not _works(client, key)
    with session_scope(make_sessionmaker(engine)) as s:
        (event,) = s.scalars(select(AuditEvent).where(
            AuditEvent.institution_id == inst, AuditEvent.action == "institution:key_revoke"))  # fmt: skip
        assert event.actor == f"regulator:{reg_id}" and event.officer_id == officer.officer_id
        assert event.detail["key"] == first["id"]


def test_the_last_live_key_stays(client: TestClient, engine: Engine) -> None:
    inst, _key, _billing = _school(client, engine)
    reg_id, _ = factories.regulator(engine, "220000")
    token = factories.officer_session(engine, factories.officer(engine, reg_id).officer_id)
    keys = client.get(f"/api/v1/institutions/{inst}/api-keys", headers=bearer(token)).json()
    for k in keys["items"]:
        client.post(f"/api/v1/institutions/{inst}/api-keys/{k['id']}/revoke", headers=bearer(token))
    states = client.get(f"/api/v1/institutions/{inst}/api-keys", headers=bearer(token)).json()
    assert sum(k["revoked_at"] is None for k in states["items"]) == 1
    (live,) = [k for k in states["items"] if k["revoked_at"] is None]
    r = client.post(f"/api/v1/institutions/{inst}/api-keys/{live['id']}/revoke",
                    headers=bearer(token))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (409, "last_key")


def test_a_viewer_reads_another_region_is_not_found(client: TestClient, engine: Engine) -> None:
    inst, key, billing = _school(client, engine)
    reg_id, _ = factories.regulator(engine, "220000")
    viewer = factories.officer_session(
        engine, factories.officer(engine, reg_id, "viewer").officer_id
    )
    assert (
        client.get(f"/api/v1/institutions/{inst}/api-keys", headers=bearer(viewer)).status_code
        == 200
    )
    r = client.post(
        f"/api/v1/institutions/{inst}/api-keys/{billing}/revoke", headers=bearer(viewer)
    )
    assert (r.status_code, r.json()["code"]) == (403, "role_forbidden")
    other, _ = factories.regulator(engine, "220400")
    stranger = factories.officer_session(engine, factories.officer(engine, other).officer_id)
    r = client.get(f"/api/v1/institutions/{inst}/api-keys", headers=bearer(stranger))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = client.post(f"/api/v1/institutions/{inst}/api-keys/{billing}/revoke",
                    headers=bearer(stranger))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    # Another institution's key under this institution's address: not found either.
    own_reg_token = factories.officer_session(engine, factories.officer(engine, reg_id).officer_id)
    bank = factories.bank(engine)
    second, _k = factories.institution(engine, bank.id, "220102")
    r = client.post(f"/api/v1/institutions/{second}/api-keys/{billing}/revoke",
                    headers=bearer(own_reg_token))  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert _works(client, key)


def test_the_institution_page_lists_and_revokes_its_keys(
    client: TestClient, engine: Engine
) -> None:
    inst, key, billing = _school(client, engine)
    reg_id, _ = factories.regulator(engine, "220000")
    officer = factories.officer(engine, reg_id, role="officer")
    pages = _pages(client, engine, officer.officer_id)
    page = pages.get(f"/workbench/institutions/{inst}?lang=zh")
    assert page.status_code == 200 and "接口密钥" in page.text
    form = f'action="/workbench/institutions/{inst}/api-keys/{billing}/revoke"'
    assert form in page.text
    r = pages.post(f"/workbench/institutions/{inst}/api-keys/{billing}/revoke",
                   data={"csrf": _csrf(page.text)})  # fmt: skip
    assert r.status_code == 303, r.text
    after = pages.get(r.headers["location"].split("#", 1)[0] + "?lang=zh")
    assert "密钥已吊销" in after.text and form not in after.text
    with session_scope(make_sessionmaker(engine)) as s:
        (event,) = s.scalars(select(AuditEvent).where(
            AuditEvent.institution_id == inst, AuditEvent.action == "institution:key_revoke"))  # fmt: skip
        assert event.officer_id == officer.officer_id and event.detail["key"] == billing
    assert _works(client, key)  # the other key still works
    other, _ = factories.regulator(engine, "220400")
    stranger = _pages(client, engine, factories.officer(engine, other).officer_id)
    assert stranger.get(f"/workbench/institutions/{inst}").status_code == 404
    csrf = _csrf(stranger.get("/workbench").text)
    keys = client.get("/api/v1/api-keys", headers=bearer(key)).json()["items"]
    (first,) = [k["id"] for k in keys if k["name"] == "first key"]
    r = stranger.post(f"/workbench/institutions/{inst}/api-keys/{first}/revoke",
                      data={"csrf": csrf})  # fmt: skip
    assert r.status_code == 404 and _works(client, key)
