"""The OpenAPI document as clients need it: who may call each operation (bearer tokens for
regulators, institutions and parents; the HMAC signature headers for banks), and every error
as `application/problem+json` with its stable `code` (docs/errors.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, APIRouter

from service.errors import CODES
from service.kit.wire import REGION_CODE_MARK

SCHEMES: dict[str, dict[str, Any]] = {
    "regulatorToken": {"type": "http", "scheme": "bearer",
                       "description": "A regulator's API token (tgr_…): its region and below"},
    "institutionKey": {"type": "http", "scheme": "bearer",
                       "description": "An institution's API key: its own business"},
    "parentSession": {"type": "http", "scheme": "bearer",
                      "description": "From POST /api/v1/parent/sessions: one enrollment"},
    "bankId": {"type": "apiKey", "in": "header", "name": "X-Bank-Id",
               "description": "The custody bank's id; with X-Timestamp and X-Signature"},
    "bankTimestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp",
                      "description": "Unix seconds, within the signature window"},
    "bankSignature": {"type": "apiKey", "in": "header", "name": "X-Signature",
                      "description": "hex HMAC-SHA256 of timestamp, method, path+query, body"},
}  # fmt: skip
BANK: dict[str, list[str]] = {"bankId": [], "bankTimestamp": [], "bankSignature": []}
BY_GUARD: dict[str, list[dict[str, list[str]]]] = {
    "regulator": [{"regulatorToken": []}],
    "regulator_outside_tx": [{"regulatorToken": []}],
    "officer": [{"regulatorToken": []}],
    "institution": [{"institutionKey": []}],
    "parent": [{"parentSession": []}],
    "bank": [BANK],
    "regulator_or_institution": [{"regulatorToken": []}, {"institutionKey": []}],
    "public": [],
}
PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable: clients branch on it.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(CODES)},
        "errors": {"type": "array", "items": {"type": "object"},
                   "description": "for validation_error: each field, its code and message"},
        "retry_after": {"type": ["integer", "null"]},
    },
    "additionalProperties": True,
}  # fmt: skip
_REF = {"$ref": "#/components/schemas/Problem"}


def install(app: FastAPI, table: Iterable[tuple[APIRouter, str, str]]) -> None:
    guards = {
        (prefix + route.path, method.lower()): guard
        for router, prefix, guard in table
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)  # fmt: skip
            app.openapi_schema = document(spec, guards)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(spec: dict[str, Any], guards: dict[tuple[str, str], str]) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    components["securitySchemes"] = SCHEMES
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM
    schemas["RegionCode"] = region_codes()
    _refer(spec, REGION_CODE_MARK, "#/components/schemas/RegionCode")
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            op["security"] = BY_GUARD[guards.get((path, method), "public")]
            _refusals(op, spec)
            _problems(op)
            for param in op.get("parameters", []):
                _text_only(param.get("schema", {}), PARAM_TEXT)
    for name, schema in schemas.items():
        if name.endswith("In"):  # what callers send (…Read is what they get)
            _text_only(schema, BODY_TEXT)
    return spec


# What the service accepts as text, said where a client (or a fuzzer) reads it: no control
# characters (service.kit.wire); free text in a body may hold tabs and line breaks.
PARAM_TEXT = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
BODY_TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
# A body's text is trimmed before its length is checked (`Strict`: str_strip_whitespace, which
# trims what Unicode calls white space), so text that must not be empty must hold one
# character that is neither white space nor control: "\t" alone is empty.
_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
_SPACE = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
BODY_TEXT_NOT_BLANK = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"


def _text_only(schema: dict[str, Any], pattern: str) -> None:
    """Every free string of the schema (no pattern, enumeration or format of its own) gets the
    pattern of what the service accepts as text."""
    if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
        blank_refused = pattern == BODY_TEXT and schema.get("minLength", 0) >= 1
        schema["pattern"] = BODY_TEXT_NOT_BLANK if blank_refused else pattern
    for key in ("properties", "$defs"):
        for sub in schema.get(key, {}).values():
            _text_only(sub, pattern)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _text_only(schema[key], pattern)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            _text_only(sub, pattern)


def region_codes() -> dict[str, Any]:
    """What a region code is (service.kit.wire.RegionCode). That it is one of the 3,220 codes
    shipped is the service's to check (422 `invalid_region_code`, named on each operation
    that takes one): as an `enum` the list makes a fuzzer's coverage phase send every code to
    every operation, and as one pattern it takes seconds to draw a value from."""
    return {
        "type": "string",
        "pattern": "^\\d{6}$",
        "description": "a GB/T 2260 administrative division code (6 digits) that exists: "
        "service/data/regions.csv, a retired code staying valid (and 000000, the national "
        "level, where an operation says so). Any other is 422 `invalid_region_code`",
    }


def _refer(node: Any, mark: str, ref: str) -> None:
    """Every schema carrying `mark` becomes a reference to `ref` (keeping its title)."""
    if isinstance(node, list):
        for item in node:
            _refer(item, mark, ref)
    elif isinstance(node, dict):
        if node.get(mark):
            kept = {k: v for k, v in node.items() if k in ("title", "description")}
            node.clear()
            node.update({"$ref": ref, **kept})
        for value in node.values():
            _refer(value, mark, ref)


# Refusals of data the schema allows, by what the operation takes: the codes join the 422 it
# documents (an operation's own rules are in its route's `responses`).
BY_INPUT = {"RegionCode": "invalid_region_code"}


def _refusals(op: dict[str, Any], spec: dict[str, Any]) -> None:
    """Name on the operation's 422 the codes its inputs can meet (a region code not in the
    list): read from the schemas it references, its body's included."""
    found = {
        code
        for name, code in BY_INPUT.items()
        if _mentions(op.get("parameters", []), name, spec, set())
        or _mentions(op.get("requestBody", {}), name, spec, set())
    }
    if not found:
        return
    responses = op.setdefault("responses", {})
    said = str(responses.get("422", {}).get("description", ""))
    codes = [c for c in said.replace(",", " ").split() if c in CODES] or ["validation_error"]
    codes += sorted(found - set(codes))
    responses["422"] = {"description": ", ".join(codes)}


def _mentions(node: Any, name: str, spec: dict[str, Any], seen: set[str]) -> bool:
    """Whether `node` refers to the component `name`, directly or through other components."""
    if isinstance(node, list):
        return any(_mentions(n, name, spec, seen) for n in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        target = ref.rsplit("/", 1)[1]
        if target == name:
            return True
        if target not in seen:
            seen.add(target)
            return _mentions(spec["components"]["schemas"].get(target), name, spec, seen)
    return any(_mentions(v, name, spec, seen) for v in node.values())


def _problems(op: dict[str, Any]) -> None:
    """Every declared error becomes a problem with its codes named; any other 4xx too."""
    responses = op.setdefault("responses", {})
    for status, r in list(responses.items()):
        if status[0] in "45":
            codes = [
                c for c in str(r.get("description", "")).replace(",", " ").split() if c in CODES
            ]
            if status == "422" and not codes:
                codes = ["validation_error"]
            described = ", ".join(f"`{c}`" for c in codes) or r.get("description", "")
            responses[status] = {
                "description": f"a problem: {described}",
                "content": {"application/problem+json": {"schema": _REF}},
            }
    responses.setdefault("4XX", {
        "description": "a problem: its code says which (docs/errors.md lists every code)",
        "content": {"application/problem+json": {"schema": _REF}},
    })  # fmt: skip
