"""The pages' static assets, and the old dashboard's address."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)

_STATIC = resources.files("service.pages").joinpath("static")
_SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@router.get("/dashboard")
def dashboard() -> RedirectResponse:
    """The workbench's old address."""
    return RedirectResponse("/workbench", status_code=308)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name != "style.css":
        return Response(status_code=404)
    return Response(
        _STATIC.joinpath(name).read_text(encoding="utf-8"), media_type="text/css", headers=_SECURITY
    )
