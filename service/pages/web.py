"""What every page needs: the templates (Jinja2, autoescaped), the language of the request,
the signed-in regulator, CSRF on every form, and the headers every page is sent with (a
Content-Security-Policy of `script-src 'self'`: no inline script, nothing from elsewhere)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from service.api.auth import vouch
from service.api.deps import NowDep, SessionDep
from service.errors import DomainError
from service.kit.replica import Freshness
from service.kit.wire import has_control
from service.pages import happened, i18n, labels, notes
from service.pages.signin import COOKIE, SignedIn, csrf_ok, signed_in
from service.registry import officers

SECURITY = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
ENV = Environment(
    loader=PackageLoader("service.pages", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.globals.update(money=i18n.money, ratio=i18n.ratio)
ENV.filters["plain"] = lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


class SignInRequired(Exception):
    """No valid workbench session: the answer is the sign-in page (handled in app.py)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def language(request: Request) -> str:
    return i18n.pick(request.query_params.get("lang"), request.cookies.get("tg_lang"))


LangDep = Annotated[str, Depends(language)]


def _signed(request: Request, session: SessionDep, now: NowDep) -> SignedIn:
    found = signed_in(session, cookie=request.cookies.get(COOKIE), now=now)
    if found is None:
        raise SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
    vouch(request, "regulator", found.regulator.id)
    return found


SignedDep = Annotated[SignedIn, Depends(_signed)]


async def _checked(
    request: Request, signed: SignedDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> SignedIn:
    """A form post of a signed-in regulator, with the session's CSRF token, and no control
    character in any field (the API's refusal: PostgreSQL cannot store a NUL, and no field of
    a form has a use for the others). Every form post is a write: the officer's role must
    allow acting (a viewer's is 403 `role_forbidden`, as on the API)."""
    await _form_checked(request, signed, csrf)
    officers.require(signed.role, officers.Permission.ACT)
    return signed


async def _form_checked(request: Request, signed: SignedIn, csrf: str) -> None:
    if not csrf_ok(signed.csrf, csrf):
        raise DomainError("forbidden", "the form is stale or not this session's: reload the page")
    form = await request.form()
    bad = sorted({k for k, v in form.multi_items() if has_control(k) or has_control(v)})
    if bad:
        detail = f"text may not hold control characters: {', '.join(repr(b) for b in bad)}"
        raise DomainError("validation_error", detail)


async def _checked_any_role(
    request: Request, signed: SignedDep, csrf: Annotated[str, Form(max_length=100)] = ""
) -> SignedIn:
    """A form post any signed-in person may send whatever their role (signing out)."""
    await _form_checked(request, signed, csrf)
    return signed


PostDep = Annotated[SignedIn, Depends(_checked)]
AnyRolePostDep = Annotated[SignedIn, Depends(_checked_any_role)]


def render(
    request: Request,
    template: str,
    lang: str,
    *,
    signed: SignedIn | None = None,
    http_status: int = 200,
    **context: Any,
) -> HTMLResponse:
    _ = i18n.gettext(lang)
    context.setdefault("evidence", {})
    names: dict[str, str] = context.pop("actor_names", {})
    note = notes.take(request)  # only what the server wrote: never text from the request
    page = ENV.get_template(template).render(
        request=request,
        _=_,
        lang=lang,
        html_lang=i18n.HTML_LANG[lang],
        label=lambda kind, code: _(labels.label(kind, code)),
        violation=lambda v: labels.violation(v, _, lang, i18n.money),
        when=lambda v: i18n.instant(v, lang),
        day=lambda v: i18n.day(v, lang),
        signed=signed,
        switch=_switch_url(request, "en" if lang == "zh" else "zh"),
        url=lambda path, **q: _url(path, q),
        actor=lambda a: happened.who(a, names, _),
        person=lambda e: happened.person(e, names, _),
        action=lambda code: happened.action(code, _),
        place=labels.place,
        places=labels.places,
        change_value=lambda field, value: happened.state(f"registry:{field}", value, _, lang),
        setting_value=lambda key, value: labels.setting_value(key, value, _),
        refund_note=lambda status, note: _refund_note(status, note, _),
        flash=note[1] if note and note[0] == "done" else None,
        problem=note[1] if note and note[0] == "problem" else None,
        freshness=_freshness(request),
        **context,
    )
    response = HTMLResponse(page, status_code=http_status, headers=SECURITY)
    notes.forget(request, response)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie("tg_lang", lang, max_age=365 * 86400, samesite="lax",
                            secure=request.url.scheme == "https")  # fmt: skip
    return response


@dataclass(frozen=True)
class Shown:
    """How current a page's figures are, as the page says it."""

    replica: bool
    as_of: datetime
    seconds: int


def _freshness(request: Request) -> Shown | None:
    """For a page that read with the read session (`service.api.deps.ReadSessionDep`): the
    instant its figures stand at, and whether a replica (how far behind) or the primary read
    them. Other pages say nothing."""
    fresh: Freshness | None = getattr(request.state, "freshness", None)
    if fresh is None:
        return None
    now: datetime = request.app.state.clock()
    seconds = math.ceil(fresh.lag_seconds)
    return Shown(replica=fresh.replica, as_of=now - timedelta(seconds=seconds), seconds=seconds)


def _refund_note(status: str, note: str | None, _: Any) -> str:
    sentence, data = labels.refund_note(status, note)
    if not sentence:
        return ""
    shown = _(data) if status == "failed" and data in labels.BANK_REASONS.values() else data
    return str(_(sentence)) % {"data": shown or ""}


def _url(path: str, query: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in query.items() if v not in (None, "")}
    return path + (f"?{urlencode(kept)}" if kept else "")


def _switch_url(request: Request, lang: str) -> str:
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return _url(request.url.path, {**query, "lang": lang})


def back(to: str, *, done: str | None = None, problem: str | None = None) -> RedirectResponse:
    """After a form: back to the page it came from (post, redirect, get), saying how it went
    in a note the server seals (`service.pages.notes`), never in the address."""
    note: tuple[notes.Kind, str] | None = (
        ("done", done) if done else (("problem", problem) if problem else None)
    )
    return notes.Back(to, note)


def sign_in_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/workbench/sign-in?next={quote(next_url)}", status_code=303)


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    """A refusal on a page: not found (also what another region's object is), forbidden…"""
    lang = language(request)
    _ = i18n.gettext(lang)
    title = {404: _("Not found"), 403: _("Not allowed"), 422: _("The form is incomplete")}.get(
        exc.status, _("Refused")
    )
    # A not-found's detail names what was asked for: text from the address, never shown.
    gone = _("There is nothing here, or it is not yours to see.")
    detail = gone if exc.status == 404 else _(labels.REFUSALS.get(exc.code, "")) or title
    return render(request, "error.html", lang, http_status=exc.status, title=title, detail=detail)
