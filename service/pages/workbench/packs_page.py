"""The rule pack in force for an institution (or a region and sector) on a day, rule by rule:
its value in words, its source, and where it was defined; and the versions defined at the
region. Read from the same resolution the domain obeys (service.policy.packs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from service.api.deps import NowDep, SessionDep
from service.errors import DomainError
from service.kit.clock import local_date
from service.kit.money import Day
from service.pages import i18n, rule_words
from service.pages.web import LangDep, SignedDep, render
from service.policy import packs
from service.policy import rules as r
from service.registry.institutions import in_regulator_scope
from service.registry.regions import in_scope, is_valid_region

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/packs", response_class=HTMLResponse)
def pack_page(
    request: Request,
    signed: SignedDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    institution_id: Annotated[str | None, Query(max_length=40)] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    sector: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    on: Annotated[Day | None, Query()] = None,
) -> HTMLResponse:
    day = on or local_date(now)
    institution = None
    if institution_id:
        institution = in_regulator_scope(session, signed.regulator, institution_id)
        region, chosen = institution.region_code, packs.sector_of(institution.category)
    else:
        region = region_code or signed.regulator.region_code
        if not is_valid_region(region) or not in_scope(signed.regulator.region_code, region):
            raise DomainError("not_found", f"no region {region} in yours")
        chosen = sector if sector in (r.ALL, *r.SECTORS) else "education_subject"
    pack = packs.resolve(session, region, chosen, on=day)
    _ = i18n.gettext(lang)
    rows = [
        {
            "name": name,
            "title": _(rule_words.NAMES[name]),
            "value": rule_words.value(name, c.value, _),
            "source": c.source,
            "region_code": c.region_code,
            "sector": _(rule_words.SECTORS.get(c.sector, c.sector)),
            "version": c.version,
            "effective_from": c.effective_from,
        }
        for name, c in pack.cited.items()
    ]
    versions = sorted(
        (v for code in packs.chain(region) for v in packs.versions(session, code)
         if v.sector in (r.ALL, chosen)),
        key=lambda v: (v.effective_from, v.created_at), reverse=True,
    )  # fmt: skip
    return render(
        request,
        "rule_pack.html",
        lang,
        signed=signed,
        institution=institution,
        region_code=region,
        sector=chosen,
        sectors=[(s, _(rule_words.SECTORS[s])) for s in (*r.SECTORS, r.ALL)],
        sector_name=_(rule_words.SECTORS[chosen]),
        on=day,
        rows=rows,
        versions=versions,
        rule_title=lambda n: _(rule_words.NAMES.get(str(n)) or str(n)),
        national=r.NATIONAL,
    )
