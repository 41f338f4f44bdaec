"""Authorization over the whole route table, generated from it so that a new endpoint is
covered without anyone remembering it."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from service.app import routers


def test_every_guarded_route_refuses_a_caller_without_credentials(client) -> None:
    """Generated from the route table: nothing guarded answers anything but 401 without a
    credential, whatever the path parameters."""
    checked = 0
    for router, prefix, guard in routers():
        if guard == "public":
            continue
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{[^}]+\}", "x", prefix + route.path)
            for method in route.methods:
                r = client.request(method, path, json={})
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                checked += 1
    assert checked > 40
