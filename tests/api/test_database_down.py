"""A database fault a retry can outlive is 503 `unavailable` with `Retry-After`, never a 500
(the chaos soak answered a restarting PostgreSQL, cut connections and broken deadlocks as
500s): the request's transaction was rolled back, and the caller is told to come back."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.kit.db import make_engine
from tests.api.conftest import bearer
from tests.api.test_plumbing import assert_problem


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unreachable_database_is_503_unavailable(kind: str, tmp_path: Path) -> None:
    url = (
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
        if kind == "postgresql"
        else f"sqlite:///{tmp_path}/no/such/folder/db.sqlite"
    )
    settings = Settings(environment="test", log_signing_key="ab" * 32, database_url=url, scheduler_enabled=False,
                        secret_key="test-secret-key-0123456789", rate_limit_per_second=0)  # fmt: skip
    app = create_app(settings, engine=make_engine(url))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/balances", headers=bearer("tgi_" + "0" * 40))
        assert_problem(r, 503, "unavailable")
        assert r.headers["retry-after"] == "1"
        r = c.post("/api/v1/parent/sessions", json={"enrollment_id": "enr_1", "access_code": "1"})
        assert_problem(r, 503, "unavailable")
