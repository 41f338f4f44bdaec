"""The route table: no two routes claim the same method and path (the first registered would
silently win: the institutions' GET /refunds answered 401 "unknown regulator token")."""

from __future__ import annotations

from collections import Counter

from fastapi.routing import APIRoute

from service.app import routers


def table() -> Counter[tuple[str, str]]:
    seen: Counter[tuple[str, str]] = Counter()
    for router, prefix, _ in routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods:
                seen[(method, prefix + route.path)] += 1
    return seen


def test_no_method_and_path_is_registered_twice() -> None:
    assert [k for k, n in table().items() if n > 1] == []


def test_the_table_has_every_contract_path() -> None:
    paths = set(table())
    for needed in [
        ("GET", "/api/v1/refunds"),
        ("POST", "/api/v1/refunds/{refund_id}/respond"),
        ("POST", "/api/v1/refunds/{refund_id}/decide"),
        ("POST", "/api/v1/bank/deposits"),
        ("GET", "/api/v1/parent/enrollment"),
    ]:
        assert needed in paths


PUBLIC = {
    ("POST", "/api/v1/parent/sessions"),
    ("POST", "/api/v1/officer-sessions"),  # signing in: a password and a code, throttled
    ("GET", "/api/v1/public/institutions/{credit_code}"),
    # Liability proofs and the public log (docs/proofs.md): anyone may check them.
    ("GET", "/api/v1/public/institutions/{institution_id}/liabilities"),
    ("GET", "/api/v1/public/log/checkpoint"),
    ("GET", "/api/v1/public/log/checkpoints"),
    ("GET", "/api/v1/public/log/entries"),
    ("GET", "/api/v1/public/log/proof/inclusion"),
    ("GET", "/api/v1/public/log/proof/consistency"),
}


def test_every_router_is_guarded_where_it_is_included() -> None:
    """Auth is attached at include (service/app.py), so a route added to a guarded router is
    guarded; the public API routes are exactly these."""
    from service.api.auth import GUARDS

    public = set()
    for router, prefix, guard in routers():
        assert guard in GUARDS
        if guard == "public" and prefix:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                public |= {(m, prefix + route.path) for m in route.methods}
    assert public == PUBLIC
