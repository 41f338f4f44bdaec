"""Every error leaves as application/problem+json (RFC 9457) with a stable `code`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from ledger import LedgerError
from service.errors import STATUS, DomainError, from_ledger

PROBLEM = "application/problem+json"


def refusals(*codes: str) -> dict[int | str, dict[str, Any]]:
    """An operation's `responses` for the refusals of data its schema allows (an id that does
    not exist, a state, a rule no schema states): each code under its status, so that the
    document names them (service.api.openapi_doc); a 422 names `validation_error` too."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        status = STATUS[code][0]
        said = out.setdefault(status, {"description": "validation_error" if status == 422 else ""})
        said["description"] = ", ".join(filter(None, [said["description"], code]))
    return out


def problem_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    status_code, title = STATUS[code]
    status = status or status_code
    body: dict[str, Any] = {
        "type": f"https://tuitionguard.cn/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.append(
            {
                "field": ".".join(loc),
                "code": err.get("type", "invalid"),
                "message": err.get("msg", ""),
            }
        )
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = None
        if exc.retry_after is not None:
            headers = {"Retry-After": str(exc.retry_after)}
        elif exc.status in (429, 503):
            headers = {"Retry-After": "1"}  # every 429 and 503 says when to come back
        return problem_response(
            exc.code,
            exc.detail,
            headers=headers,
            violations=exc.violations,
            retry_after=exc.retry_after,
            **exc.extra,
        )

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
        err = from_ledger(exc)
        return problem_response(err.code, err.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["code"] == "json_invalid" for e in errors):
            return problem_response("malformed_json", "the body is not valid JSON", errors=errors)
        return problem_response(
            "validation_error", f"{len(errors)} field(s) failed validation", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            415: "unsupported_media_type",
            401: "unauthenticated",
            403: "forbidden",
        }.get(exc.status_code, "bad_request")
        detail = exc.detail if isinstance(exc.detail, str) else STATUS[code][1]
        # 405 keeps its Allow header (RFC 9110), and any other header the exception carries.
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return problem_response(code, detail, status=exc.status_code, headers=headers)


def allowed_methods(request: Request, fallback: str) -> str:
    """Every method the document gives this path, whoever its caller. The router answers 405
    with the methods of the first route whose path matched, so a path two routers serve (the
    institution's POST /courses, the regulator's GET /courses) named only one of them. A path
    the document does not hold (a page) keeps the router's answer."""
    table = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (compile_path(path)[0], path.count("{"), [m.upper() for m in ops])
            for path, ops in request.app.openapi()["paths"].items()
        ]
        request.app.state.allowed_methods = table
    path = request.scope.get("path", "")
    matched = [(params, ms) for pattern, params, ms in table if pattern.match(path)]
    if not matched:
        return fallback
    # The path as the document names it: `/courses/check` is its own resource, not
    # `/courses/{course_id}` with the id "check".
    fewest = min(params for params, _ in matched)
    methods = {m for params, ms in matched if params == fewest for m in ms}
    return ", ".join(sorted(methods))
