"""Registry, guidance prices, course filings and public disclosure through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories
from tests.api.approving import through
from tests.api.conftest import bearer
from tests.api.test_plumbing import assert_problem


class TestRegistry:
    def test_register_and_see(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine, "220400")
        body = factories.institution_body(bank.id, region="220402")
        r = client.post("/api/v1/institutions", json=body, headers=bearer(token))
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["status"] == "active" and out["api_key"].startswith("tgi_")
        assert out["balances"] == {
            "escrow": "0.00",
            "prepaid_outstanding": "0.00",
            "earned_unreleased": "0.00",
            "suspense": "0.00",
            "released": "0.00",
        }
        got = client.get(f"/api/v1/institutions/{out['id']}", headers=bearer(token)).json()
        assert got["credit_code"] == body["credit_code"] and "api_key" not in got

    def test_invalid_credit_code(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        body = factories.institution_body(bank.id, credit_code="91310115MA1H8R7C6D")
        assert_problem(
            client.post("/api/v1/institutions", json=body, headers=bearer(token)),
            422,
            "invalid_credit_code",
        )

    def test_invalid_region(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        body = factories.institution_body(bank.id, region="229999")
        assert_problem(
            client.post("/api/v1/institutions", json=body, headers=bearer(token)),
            422,
            "invalid_region_code",
        )

    def test_superseded_region_code_still_valid(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        body = factories.institution_body(bank.id, region="220381")  # Gongzhuling before 2020
        assert (
            client.post("/api/v1/institutions", json=body, headers=bearer(token)).status_code == 201
        )

    def test_duplicates(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, token = factories.regulator(engine)
        body = factories.institution_body(bank.id)
        assert (
            client.post("/api/v1/institutions", json=body, headers=bearer(token)).status_code == 201
        )
        again = factories.institution_body(bank.id, credit_code=body["credit_code"])
        assert_problem(
            client.post("/api/v1/institutions", json=again, headers=bearer(token)),
            409,
            "duplicate_credit_code",
        )
        same_account = factories.institution_body(
            bank.id, escrow_account_no=body["escrow_account_no"]
        )
        assert_problem(
            client.post("/api/v1/institutions", json=same_account, headers=bearer(token)),
            409,
            "duplicate_account",
        )

    def test_freeze_unfreeze_and_registry_change(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        inst, _ = factories.institution(engine, bank.id)
        _, token = factories.regulator(engine)
        r = client.post(
            f"/api/v1/institutions/{inst}/freeze",
            json={"reason": "refunds stalled"},
            headers=bearer(token),
        )
        assert r.status_code == 200 and r.json()["status"] == "frozen"
        assert client.get(
            "/api/v1/institutions?status=frozen&limit=500", headers=bearer(token)
        ).json()["items"]
        r = client.post(
            f"/api/v1/institutions/{inst}/unfreeze",
            json={"reason": "resolved"},
            headers=bearer(token),
        )
        assert r.status_code == 202  # four eyes: a supervisor approves
        assert through(client, engine, r)["status"] == "active"
        assert_problem(
            client.post(
                f"/api/v1/institutions/{inst}/unfreeze", json={"reason": "x"}, headers=bearer(token)
            ),
            409,
            "institution_not_frozen",
        )
        r = client.post(
            f"/api/v1/institutions/{inst}/registry-changes",
            json={"field": "legal_person", "value": "新法人"},
            headers=bearer(token),
        )
        assert r.status_code == 200


class TestPriceGuides:
    def test_published_tables_are_seeded(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine, "220000")
        items = client.get("/api/v1/price-guides?region_code=220102", headers=bearer(token)).json()[
            "items"
        ]
        regions = {g["region_code"] for g in items}
        assert "220100" in regions
        changchun = next(g for g in items if g["region_code"] == "220100")
        assert {i["base_price"] for i in changchun["items"]} == {"27.27", "22.73", "18.18"}

    def test_create_and_apply_a_guide(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine, "220000")
        guide = {
            "region_code": "220400",
            "effective_from": "2026-01-01",
            "items": [
                {
                    "mode": "offline",
                    "grade_band": "any",
                    "class_size_min": 1,
                    "class_size_max": None,
                    "standard_minutes": 45,
                    "base_price": "30",
                    "max_float_pct": "5",
                }
            ],
        }
        r = client.post("/api/v1/price-guides", json=guide, headers=bearer(token))
        assert r.status_code == 202, r.text  # four eyes: a supervisor approves
        assert r.json()["approval"]["payload"]["guides"][0]["items"][0]["base_price"] == "30.00"
        assert through(client, engine, r)["created"]
        check = factories.course_body(n=2, price_per_lesson="31.50") | {"region_code": "220402"}
        out = client.post("/api/v1/courses/check", json=check, headers=bearer(token)).json()
        assert out["status"] == "approved" and out["price_check"]["ceiling_per_lesson"] == "31.50"
        check["price_per_lesson"] = "31.51"
        out = client.post("/api/v1/courses/check", json=check, headers=bearer(token)).json()
        assert [v["rule"] for v in out["violations"]] == ["price_above_guidance"]

    def test_money_as_number_is_422(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine, "220000")
        guide = {
            "region_code": "220400",
            "effective_from": "2026-01-01",
            "items": [
                {
                    "mode": "offline",
                    "grade_band": "any",
                    "class_size_min": 1,
                    "class_size_max": None,
                    "standard_minutes": 45,
                    "base_price": 30,
                    "max_float_pct": "5",
                }
            ],
        }
        body = assert_problem(
            client.post("/api/v1/price-guides", json=guide, headers=bearer(token)),
            422,
            "validation_error",
        )
        assert body["errors"][0]["code"] == "money_not_string"

    def test_out_of_region_guide(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine, "220400")
        guide = {
            "region_code": "220300",
            "effective_from": "2026-01-01",
            "items": [
                {
                    "mode": "offline",
                    "grade_band": "any",
                    "class_size_min": 1,
                    "class_size_max": None,
                    "standard_minutes": 45,
                    "base_price": "30",
                }
            ],
        }
        assert_problem(
            client.post("/api/v1/price-guides", json=guide, headers=bearer(token)),
            403,
            "out_of_region",
        )


class TestFilings:
    def test_file_approved_and_rejected(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id, region="220102")
        ok = client.post("/api/v1/courses", json=factories.course_body(), headers=bearer(key))
        assert ok.status_code == 201 and ok.json()["status"] == "approved", ok.text
        assert ok.json()["price_check"] == {
            "base_price": "22.73",
            "ceiling_per_lesson": "25.00",
            "price_per_lesson": "20.00",
            "standard_minutes": 45,
            "max_float_pct": "10.00",
            "guide_id": ok.json()["price_check"]["guide_id"],
            "guide_region": "220100",
        }
        bad_body = factories.course_body(price_per_lesson="26.00")
        bad_body["sessions"][0] = {
            "starts_at": "2026-11-21T16:00:00+08:00",
            "ends_at": "2026-11-21T16:45:00+08:00",
        }
        bad = client.post("/api/v1/courses", json=bad_body, headers=bearer(key)).json()
        assert bad["status"] == "rejected"
        assert {v["rule"] for v in bad["violations"]} == {
            "price_above_guidance",
            "weekend_or_holiday_session",
        }
        listed = client.get("/api/v1/courses", headers=bearer(key)).json()["items"]
        assert {c["id"] for c in listed} >= {ok.json()["id"], bad["id"]}

    def test_the_price_message_reads_as_people_write_it(
        self, client: TestClient, engine: Engine
    ) -> None:
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id, region="220102")
        body = factories.course_body(price_per_lesson="26.00")
        bad = client.post("/api/v1/courses", json=body, headers=bearer(key)).json()
        (message,) = [
            v["message"] for v in bad["violations"] if v["rule"] == "price_above_guidance"
        ]
        assert "up to 10% above" in message and "E+" not in message and "float" not in message
        assert message.startswith("26.00 yuan per 45-minute lesson exceeds the ceiling 25.00")

    def test_a_course_already_over_is_refused(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id, region="220102")
        before = len(client.get("/api/v1/courses", headers=bearer(key)).json()["items"])
        body = factories.course_body("2025-09-01", n=10)
        problem = assert_problem(
            client.post("/api/v1/courses", json=body, headers=bearer(key)), 422, "sessions_in_past"
        )
        assert "file the sessions still to come" in problem["detail"]
        assert len(client.get("/api/v1/courses", headers=bearer(key)).json()["items"]) == before

    def test_sessions_must_match_lessons(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id)
        body = factories.course_body(n=3)
        body["lessons_total"] = 4
        assert_problem(
            client.post("/api/v1/courses", json=body, headers=bearer(key)), 422, "validation_error"
        )

    def test_naive_session_time_is_422(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id)
        body = factories.course_body(n=1)
        body["sessions"] = [{"starts_at": "2026-11-23T16:00:00", "ends_at": "2026-11-23T16:45:00"}]
        assert_problem(
            client.post("/api/v1/courses", json=body, headers=bearer(key)), 422, "validation_error"
        )

    def test_other_institutions_course_is_404(self, client: TestClient, engine: Engine) -> None:
        bank = factories.bank(engine)
        _, key_a = factories.institution(engine, bank.id)
        _, key_b = factories.institution(engine, bank.id)
        course = client.post(
            "/api/v1/courses", json=factories.course_body(n=1), headers=bearer(key_a)
        ).json()
        assert_problem(
            client.get(f"/api/v1/courses/{course['id']}", headers=bearer(key_b)), 404, "not_found"
        )

    def test_school_calendar_applies(self, client: TestClient, engine: Engine) -> None:
        _, token = factories.regulator(engine, "220000")
        bank = factories.bank(engine)
        _, key = factories.institution(engine, bank.id, region="220102")
        cal = {
            "region_code": "220100",
            "year": 2030,
            "vacations": [{"name": "winter vacation", "start": "2030-01-21", "end": "2030-02-28"}],
        }
        assert (
            client.post("/api/v1/school-calendars", json=cal, headers=bearer(token)).status_code
            == 201
        )
        out = client.post(
            "/api/v1/courses/check",
            json=factories.course_body("2030-01-21", n=1),
            headers=bearer(key),
        ).json()
        assert [v["rule"] for v in out["violations"]] == ["vacation_session"]


def test_public_disclosure(client: TestClient, engine: Engine) -> None:
    bank = factories.bank(engine)
    body = factories.institution_body(bank.id, region="220102")
    _, token = factories.regulator(engine)
    inst = client.post("/api/v1/institutions", json=body, headers=bearer(token)).json()
    client.post("/api/v1/courses", json=factories.course_body(n=2), headers=bearer(inst["api_key"]))
    out = client.get(f"/api/v1/public/institutions/{body['credit_code']}")
    assert out.status_code == 200
    assert out.json()["list"] == "white" and out.json()["courses"][0]["price_per_lesson"] == "20.00"
    assert_problem(client.get("/api/v1/public/institutions/91350100M000100Y43"), 404, "not_found")
