"""gzip for what a browser reads: the pages, their stylesheet and icon, the documentation's
scripts and the OpenAPI document (a 94 KB overview goes as about a tenth of that).

Never for the API under /api/ nor /metrics: their answers carry credentials (an institution's
key, a parent's access code) next to text a caller chose, which is what a compression-length
attack (BREACH) needs, and their clients are programs on short answers. Nor for a request
a browser marks as started by another site (`Sec-Fetch-Site: cross-site` or `same-site`): only
such a request could carry a signed-in regulator's cookie into a page an attacker fills and
measures; the workbench opened from its own links, or typed, is compressed."""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

_NEVER = ("/api/", "/metrics")
_FOREIGN = {b"cross-site", b"same-site"}


class PageCompression:
    def __init__(self, app: ASGIApp, *, minimum_size: int = 1000) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=6)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and compressible(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def compressible(scope: Scope) -> bool:
    if str(scope["path"]).startswith(_NEVER):
        return False
    site = dict(scope["headers"]).get(b"sec-fetch-site", b"")
    return site not in _FOREIGN
