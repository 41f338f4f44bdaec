"""The parent's pages: one enrollment, on a phone first."""

from service.pages.parent.routes import router

ROUTERS = [router]
