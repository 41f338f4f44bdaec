"""The indicators, their thresholds and the region's overrides with their history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api.deps import NowDep, ReadSessionDep, SessionDep
from service.errors import DomainError
from service.kit.clock import local_date
from service.kit.money import Day
from service.pages import evidence, i18n, labels
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import Text, act
from service.policy import knobs, packs, region_settings
from service.policy.rules import ALL, WARNING_FROM

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/rules", response_class=HTMLResponse)
def rules(
    request: Request, signed: SignedDep, session: ReadSessionDep, now: NowDep, lang: LangDep
) -> HTMLResponse:
    today = local_date(now)
    here = packs.risk_config(session, signed.regulator.region_code, on=today)
    indicators = [
        (
            code,
            [
                (
                    name,
                    _shown(getattr(knobs.DEFAULTS[code], name)),
                    _shown(getattr(getattr(here, code), name)),
                )
                for name in model.model_fields
            ],
        )
        for code, model in knobs.MODELS.items()
    ]
    history = region_settings.history(session, regulator=signed.regulator)
    code = signed.regulator.region_code
    pack = packs.resolve(session, code, ALL, on=today)
    disclosed = {
        key: region_settings.value_of(pack, key)
        for key in ("parent_warning_from", "parent_warning_score")
    }
    return render(
        request,
        "rules.html",
        lang,
        signed=signed,
        indicators=indicators,
        history=history,
        today=today,
        actor_names=evidence.actor_names(session, (v.actor for v in history if v.actor)),
        disclosed=disclosed,
        warning_from=WARNING_FROM,
    )


def _level(lang: str, value: str) -> str:
    """A level typed by its name (高风险, High) or its code, as its code."""
    _ = i18n.gettext(lang)
    names = {_(text).casefold(): code for code, text in labels.LEVELS.items() if code}
    names.update({text.casefold(): code for code, text in labels.LEVELS.items() if code})
    return names.get(value.strip().casefold(), value)


def _refused(lang: str, indicator: str, knob: str, value: str) -> str:
    """Why a knob refuses a value, in the page's language: what it takes (a whole number, a
    number or a level, and between what bounds), not the validator's English."""
    _ = i18n.gettext(lang)
    model = knobs.MODELS.get(indicator)
    field = model.model_fields.get(knob) if model else None
    if field is None:
        return _("No such threshold.")
    bounds = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in field.metadata}
    if "Literal" in str(field.annotation):
        levels = ", ".join(
            _(labels.label("levels", c)) for c in ("low", "medium", "high", "critical")
        )
        wants = _("one of the levels: %(levels)s") % {"levels": levels}
    else:
        whole = field.annotation is int
        wants = _("a whole number") if whole else _("a number")
        if "Ge" in bounds and "Le" in bounds:
            span = {"what": wants, "low": bounds["Ge"], "high": bounds["Le"]}
            wants = _("%(what)s from %(low)s to %(high)s") % span
    return _("“%(knob)s” of “%(sign)s” cannot be “%(value)s”: give %(wants)s.") % {
        "knob": _(labels.label("knobs", knob)),
        "sign": _(labels.label("indicators", indicator)),
        "value": value,
        "wants": wants,
    }


def _shown(value: object) -> str:
    return "" if value is None else str(value)


@router.post("/rules")
def change_rule(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    knob: Annotated[str, Form(max_length=80, pattern=r"^[a-z_]+:[a-z_]+$")],
    value: Annotated[str, Form(max_length=40)],
    effective_from: Annotated[Day, Form()],
    reason: Text,
    lang: LangDep,
) -> RedirectResponse:
    indicator, knob = knob.split(":", 1)

    def work() -> object:
        pack = packs.resolve(session, region_code, ALL, on=effective_from)
        current = pack.values.risk_thresholds
        given = _level(lang, value) if knob.endswith("floor") else value
        merged = {**current, indicator: {**current.get(indicator, {}), knob: given}}
        try:
            return region_settings.change(
                session,
                regulator=signed.regulator,
                region_code=region_code,
                key="risk_thresholds",
                value=merged,
                now=now,
                effective_from=effective_from,
                reason=reason,
            )
        except DomainError as exc:
            if exc.code != "validation_error":
                raise
            told = _refused(lang, indicator, knob, value)
            raise DomainError("validation_error", told, extra={"shown": True}) from exc

    return act(session, "/workbench/rules", work, N_("The change is saved."))


@router.post("/rules/parents")
def change_disclosure(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    warning_from: Annotated[Literal["medium", "high", "critical", "never"], Form()],
    effective_from: Annotated[Day, Form()],
    reason: Text,
    with_score: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """What the region tells parents of an institution's risk: from which level, and whether
    with the score. Two settings, set together (each audited), by the same use case as the
    API's."""

    def work() -> object:
        return [
            region_settings.change(session, regulator=signed.regulator, region_code=region_code,
                                   key=key, value=value, now=now, effective_from=effective_from,
                                   reason=reason)
            for key, value in (("parent_warning_from", warning_from),
                               ("parent_warning_score", with_score))
        ]  # fmt: skip

    return act(session, "/workbench/rules#parents-h", work, N_("The change is saved."))
