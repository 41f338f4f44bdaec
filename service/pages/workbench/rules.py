"""The indicators, their thresholds and the region's overrides with their history."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api.deps import NowDep, SessionDep
from service.kit.clock import local_date
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import Text, act
from service.policy import knobs, settings

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/rules", response_class=HTMLResponse)
def rules(
    request: Request, signed: SignedDep, session: SessionDep, now: NowDep, lang: LangDep
) -> HTMLResponse:
    today = local_date(now)
    here = settings.risk_config(session, signed.regulator.region_code, on=today)
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
    history = settings.history(session, regulator=signed.regulator)
    return render(
        request,
        "rules.html",
        lang,
        signed=signed,
        indicators=indicators,
        history=history,
        today=today,
    )


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
    effective_from: Annotated[date, Form()],
    reason: Text,
) -> RedirectResponse:
    indicator, knob = knob.split(":", 1)

    def work() -> None:
        current = settings.get(session, region_code, "risk_thresholds", on=effective_from)
        merged = {**current, indicator: {**current.get(indicator, {}), knob: value}}
        settings.set_for(
            session,
            regulator=signed.regulator,
            region_code=region_code,
            key="risk_thresholds",
            value=merged,
            now=now,
            effective_from=effective_from,
            reason=reason,
        )

    return act(session, "/workbench/rules", work, N_("The change is saved."))
