"""The regulator's workbench: pages served by the service itself, scoped to the signed-in
regulator's region exactly as the API is (the same domain functions authorize and audit
every action). Forms post, then redirect back (post, redirect, get)."""

from __future__ import annotations

from fastapi import APIRouter

from service.pages.workbench import (
    account,
    approvals_pages,
    audit,
    cases,
    institution_pages,
    national_pages,
    officers_pages,
    overview,
    packs_page,
    prices_pages,
    queues,
    rules,
    signin_pages,
    winddown_pages,
)

# Each page's router, in the order they are included (all under /workbench, off the schema).
ROUTERS: list[APIRouter] = [
    module.router
    for module in (
        signin_pages,
        overview,
        institution_pages,
        cases,
        queues,
        rules,
        packs_page,
        prices_pages,
        approvals_pages,
        audit,
        account,
        officers_pages,
        winddown_pages,
        national_pages,
    )
]
