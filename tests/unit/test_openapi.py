"""The OpenAPI document describes what the service answers: a body for every 2xx, and money as
a string, never a number (issue: architecture, typed edges)."""

from __future__ import annotations

from typing import Any

import pytest

from service.app import create_app
from service.config import Settings


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    app = create_app(
        Settings(
            environment="test",
            log_signing_key="ab" * 32,
            database_url="sqlite:///:memory:",
            secret_key="x" * 20,
        )
    )
    return app.openapi()


def operations(spec: dict[str, Any]):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def test_every_2xx_declares_a_body(spec: dict[str, Any]) -> None:
    missing = [
        (m, p, code)
        for m, p, op in operations(spec)
        for code, r in op["responses"].items()
        if code.startswith("2") and not any(c.get("schema") for c in r.get("content", {}).values())
    ]
    assert missing == []


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}/{i}")


MONEY_NAMES = {"amount", "escrow", "balance", "amount_due", "amount_paid", "price_per_lesson"}


def test_money_is_a_string_everywhere(spec: dict[str, Any]) -> None:
    """Every schema property named like money is a string with a pattern (before: `number |
    string` in places)."""
    bad = []
    for where, node in _walk(spec["components"]["schemas"]):
        for name, prop in (node.get("properties") or {}).items():
            if name in MONEY_NAMES or name.startswith("amount_"):
                options = prop.get("anyOf", [prop])
                types = {o.get("type") for o in options}
                if "number" in types or not ({"string"} <= types):
                    bad.append((where, name, prop))
                for o in options:
                    if o.get("type") == "string" and "pattern" not in o:
                        bad.append((where, name, o))
    assert bad == []


def test_every_operation_says_who_may_call_it(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["regulatorToken"]["scheme"] == "bearer"
    assert {schemes[n]["name"] for n in ("bankId", "bankTimestamp", "bankSignature")} == {
        "X-Bank-Id", "X-Timestamp", "X-Signature"}  # fmt: skip
    public = {"/api/v1/parent/sessions", "/api/v1/officer-sessions", "/healthz", "/readyz", "/metrics",
              "/api/v1/public/institutions/{credit_code}",
              "/api/v1/public/institutions/{institution_id}/liabilities",
              "/api/v1/public/log/checkpoint", "/api/v1/public/log/checkpoints",
              "/api/v1/public/log/entries", "/api/v1/public/log/proof/inclusion",
              "/api/v1/public/log/proof/consistency",
              "/.well-known/tuitionguard-log-keys"}  # fmt: skip
    for method, path, op in operations(spec):
        names = {n for option in op["security"] for n in option}
        if path.startswith("/api/v1/bank/"):
            assert names == {"bankId", "bankTimestamp", "bankSignature"}, (method, path)
        elif path.startswith("/api/v1/parent/") and path not in public:
            assert names == {"parentSession"}, (method, path)
        elif path in public:
            assert op["security"] == [], (method, path)
        else:
            assert names and names <= {"regulatorToken", "institutionKey"}, (method, path)


def test_every_error_is_a_problem_with_its_codes(spec: dict[str, Any]) -> None:
    from service.errors import CODES

    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["properties"]["code"]["enum"]) == set(CODES)
    for method, path, op in operations(spec):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert "4XX" in errors, (method, path)
        for status, r in errors.items():
            assert list(r["content"]) == ["application/problem+json"], (method, path, status)
    refund = spec["paths"]["/api/v1/parent/sessions"]["post"]["responses"]
    assert "`invalid_access_code`" in refund["401"]["description"]


def test_a_region_code_is_one_the_service_takes(spec: dict[str, Any]) -> None:
    """Issue 31, conformance: `region_code=000000` was allowed by the document and refused by
    the service with a code its operation did not name. Every region code a caller sends is
    now the component `RegionCode`, and each operation that takes one names
    `invalid_region_code` on its 422 and is one schemathesis.toml lets refuse valid data."""
    import json
    import re
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[2] / "schemathesis.toml").read_text())
    admitted = {
        name
        for entry in config["operations"]
        for name in ([entry["include-name"]] if isinstance(entry["include-name"], str)
                     else entry["include-name"])
    }  # fmt: skip
    taking = set()
    for method, path, op in operations(spec):
        inputs = json.dumps([op.get("parameters", []), op.get("requestBody", {})])
        bodies = re.findall(r"#/components/schemas/(\w+)", inputs)
        seen = inputs + "".join(json.dumps(spec["components"]["schemas"][b]) for b in bodies)
        if "#/components/schemas/RegionCode" in seen:
            taking.add(f"{method.upper()} {path}")
            assert "invalid_region_code" in op["responses"]["422"]["description"], (method, path)
    assert {"POST /api/v1/institutions", "GET /api/v1/working-days"} <= taking
    assert taking <= admitted, taking - admitted
    loose = [
        (m, p, param["name"])
        for m, p, op in operations(spec)
        for param in op.get("parameters", [])
        if param["name"] == "region_code" and "RegionCode" not in json.dumps(param["schema"])
    ]
    assert loose == []


def test_only_the_operations_schemathesis_toml_names_may_refuse_valid_data(
    spec: dict[str, Any],
) -> None:
    """Issue 31, conformance: schemathesis.toml admitted 422 for schema-valid data everywhere.
    Now no operation may answer it but those the file names, each with its reason in a comment
    above it; each names a real operation whose 422 the document describes, and no statement
    of the file admits 422 for every operation."""
    import re
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "schemathesis.toml").read_text()
    config = tomllib.loads(text)
    assert "422" not in str(config.get("checks", {}))
    names = {f"{m.upper()} {p}": op for m, p, op in operations(spec)}
    entries = config["operations"]
    blocks = re.split(r"\n(?=\[\[operations\]\])", text)[1:]
    assert len(blocks) == len(entries)
    for block, entry in zip(blocks, entries, strict=True):
        assert set(entry) == {"include-name", "checks"}, entry
        named = entry["include-name"]
        for name in [named] if isinstance(named, str) else named:
            assert name in names, name
            assert "422" in names[name]["responses"], name
        previous = text[: text.index(block)].rstrip().splitlines()[-1]
        assert previous.startswith("# "), f"no reason given above {named}"
