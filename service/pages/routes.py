"""Serves the dashboard pages. They hold no data of their own: the browser calls the API with
the credential the user typed, kept only in the tab's sessionStorage."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

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


def _page(name: str) -> HTMLResponse:
    return HTMLResponse(_STATIC.joinpath(name).read_text(encoding="utf-8"), headers=_SECURITY)


@router.get("/dashboard")
def dashboard() -> RedirectResponse:
    """The workbench's old address."""
    return RedirectResponse("/workbench", status_code=308)


@router.get("/parent")
def parent() -> HTMLResponse:
    return _page("parent.html")


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in {"parent.js", "style.css"}:
        return Response(status_code=404)
    media = "text/css" if name.endswith(".css") else "text/javascript"
    return Response(
        _STATIC.joinpath(name).read_text(encoding="utf-8"), media_type=media, headers=_SECURITY
    )
