"""The front door (`/`), the API's documentation served offline (`/docs`, `/redoc`, their
assets vendored under static/vendor), the pages' stylesheet, and the old dashboard's address."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.pages.web import LangDep, render

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
# Pinned in static/vendor/README.md, with their tarballs' checksums.
VENDORED = {
    "swagger-ui/swagger-ui-bundle.js": "text/javascript",
    "swagger-ui/swagger-ui.css": "text/css",
    "swagger-ui/favicon-32x32.png": "image/png",
    "redoc/redoc.standalone.js": "text/javascript",
}
_ASSET = "/static/vendor/"


@router.get("/", response_class=HTMLResponse)
def front_door(request: Request, lang: LangDep) -> HTMLResponse:
    """Where to go: the workbench, the parent's page, the API and its documentation."""
    return render(request, "front.html", lang)


@router.get("/docs", response_class=HTMLResponse)
def swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="TuitionGuard API",
        swagger_js_url=_ASSET + "swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=_ASSET + "swagger-ui/swagger-ui.css",
        swagger_favicon_url=_ASSET + "swagger-ui/favicon-32x32.png",
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="TuitionGuard API",
        redoc_js_url=_ASSET + "redoc/redoc.standalone.js",
        redoc_favicon_url=_ASSET + "swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get("/static/vendor/{package}/{name}")
def vendored(package: str, name: str) -> Response:
    media = VENDORED.get(f"{package}/{name}")
    if media is None:
        return Response(status_code=404)
    return Response(_read(f"vendor/{package}/{name}"), media_type=media,
                    headers={"Cache-Control": "public, max-age=604800",
                             "X-Content-Type-Options": "nosniff"})  # fmt: skip


@cache
def _read(path: str) -> bytes:
    return _STATIC.joinpath(path).read_bytes()


@router.get("/dashboard")
def dashboard() -> RedirectResponse:
    """The workbench's old address."""
    return RedirectResponse("/workbench", status_code=308)


# The project's own files under static/ (the icon is ours, drawn for it: nothing to pin).
_OWN = {"style.css": "text/css", "favicon.svg": "image/svg+xml", "proof.js": "text/javascript"}


@router.get("/static/{name}")
def static(name: str) -> Response:
    media = _OWN.get(name)
    if media is None:
        return Response(status_code=404)
    return Response(_read(name), media_type=media, headers=_SECURITY)


@router.get("/favicon.ico")
def favicon() -> Response:
    """Where browsers and crawlers look for an icon before reading a page: the same icon
    (an SVG; every browser the pages support takes one), cached for a day."""
    return Response(_read("favicon.svg"), media_type="image/svg+xml",
                    headers={**_SECURITY, "Cache-Control": "public, max-age=86400"})  # fmt: skip
