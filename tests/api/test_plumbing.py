"""HTTP conventions of docs/api.md: problems, signatures, scopes, idempotency, ops endpoints."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from service.kit.db import make_sessionmaker, session_scope
from service.registry.models import Institution
from tests import factories
from tests.api.conftest import bearer

PROBLEM = "application/problem+json"


def assert_problem(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/nope"), 404, "not_found")


def test_wrong_method_is_problem_json(client: TestClient) -> None:
    assert_problem(client.delete("/api/v1/banks"), 405, "method_not_allowed")


def test_malformed_json_is_400_not_500(client: TestClient, engine: Engine) -> None:
    _, token = factories.regulator(engine)
    resp = client.post(
        "/api/v1/institutions",
        content=b'{"name": "x",',
        headers={**bearer(token), "content-type": "application/json"},
    )
    assert_problem(resp, 400, "malformed_json")


def test_schema_violation_lists_fields(client: TestClient, engine: Engine) -> None:
    _, token = factories.regulator(engine)
    resp = client.post("/api/v1/institutions", json={"name": 5}, headers=bearer(token))
    body = assert_problem(resp, 422, "validation_error")
    fields = {e["field"] for e in body["errors"]}
    assert "body.credit_code" in fields


def test_missing_and_bad_bearer_are_401(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/banks"), 401, "unauthenticated")
    assert_problem(
        client.get("/api/v1/banks", headers=bearer("tgr_forged")), 401, "unauthenticated"
    )


def test_healthz_readyz_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "tg_http_requests_total" in client.get("/metrics").text


def test_request_id_is_echoed(client: TestClient) -> None:
    resp = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


class TestBankSignature:
    path = "/api/v1/bank/whoami"

    def test_good_signature_passes(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        resp = client.get(self.path, headers=bank.headers("GET", self.path))
        assert resp.status_code == 200 and resp.json()["bank_id"] == bank.id

    def test_missing_signature(self, client: TestClient) -> None:
        assert_problem(client.get(self.path), 401, "invalid_signature")

    def test_forged_signature(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        forged = factories.BankCred(bank.id, "not-the-secret")
        resp = client.get(self.path, headers=forged.headers("GET", self.path))
        assert_problem(resp, 401, "invalid_signature")

    def test_stale_signature(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        headers = bank.headers("GET", self.path, at=int(time.time()) - 301)
        assert_problem(client.get(self.path, headers=headers), 401, "invalid_signature")

    def test_unknown_bank(self, client: TestClient) -> None:
        ghost = factories.BankCred("bank_ghost", "x")
        assert_problem(
            client.get(self.path, headers=ghost.headers("GET", self.path)), 401, "invalid_signature"
        )


class TestRegionScope:
    def test_regulator_cannot_see_other_region(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        siping_inst, _ = factories.institution(engine, bank.id, region="220302")
        liaoyuan_inst, _ = factories.institution(engine, bank.id, region="220402")
        _, liaoyuan = factories.regulator(engine, "220400")
        assert_problem(
            client.get(f"/api/v1/institutions/{siping_inst}", headers=bearer(liaoyuan)),
            404,
            "not_found",
        )
        assert (
            client.get(
                f"/api/v1/institutions/{liaoyuan_inst}", headers=bearer(liaoyuan)
            ).status_code
            == 200
        )
        listed = client.get("/api/v1/institutions?limit=500", headers=bearer(liaoyuan)).json()[
            "items"
        ]
        regions = {i["region_code"] for i in listed}
        assert regions and all(r.startswith("2204") for r in regions)

    def test_province_sees_both(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        inst, _ = factories.institution(engine, bank.id, region="220302")
        _, jilin = factories.regulator(engine, "220000")
        assert client.get(f"/api/v1/institutions/{inst}", headers=bearer(jilin)).status_code == 200

    def test_register_outside_region_is_403(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, liaoyuan = factories.regulator(engine, "220400")
        body = factories.institution_body(bank.id, region="220302")
        assert_problem(
            client.post("/api/v1/institutions", json=body, headers=bearer(liaoyuan)),
            403,
            "out_of_region",
        )


class TestIdempotency:
    def test_replay_returns_identical_response_and_changes_nothing(
        self, client: TestClient, engine: Engine
    ) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        body = factories.institution_body(bank.id)
        headers = {**bearer(token), "Idempotency-Key": "reg-inst-1"}
        first = client.post("/api/v1/institutions", json=body, headers=headers)
        second = client.post("/api/v1/institutions", json=body, headers=headers)
        assert first.status_code == 201
        assert second.status_code == 201
        assert second.content == first.content
        assert second.headers.get("idempotent-replayed") == "true"
        with session_scope(make_sessionmaker(engine)) as s:
            count = s.scalar(
                select(func.count())
                .select_from(Institution)
                .where(Institution.credit_code == body["credit_code"])
            )
        assert count == 1

    def test_same_key_other_body_is_409(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        headers = {**bearer(token), "Idempotency-Key": "reg-inst-2"}
        client.post(
            "/api/v1/institutions", json=factories.institution_body(bank.id), headers=headers
        )
        other = client.post(
            "/api/v1/institutions", json=factories.institution_body(bank.id), headers=headers
        )
        assert_problem(other, 409, "idempotency_conflict")

    def test_errors_replay_too(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine)
        headers = {**bearer(token), "Idempotency-Key": "bad-1"}
        body = {"name": "x"}
        first = client.post("/api/v1/institutions", json=body, headers=headers)
        second = client.post("/api/v1/institutions", json=body, headers=headers)
        assert first.status_code == 422 and second.content == first.content

    def test_keys_are_scoped_to_the_caller(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, a = factories.regulator(engine)
        _, b = factories.regulator(engine)
        key = {"Idempotency-Key": "shared-key"}
        r1 = client.post(
            "/api/v1/institutions",
            json=factories.institution_body(bank.id),
            headers={**bearer(a), **key},
        )
        r2 = client.post(
            "/api/v1/institutions",
            json=factories.institution_body(bank.id),
            headers={**bearer(b), **key},
        )
        assert r1.status_code == r2.status_code == 201
        assert r1.json()["id"] != r2.json()["id"]
