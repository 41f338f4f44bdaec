"""The rule pack in force for an institution (or a region and sector) on a day, rule by rule:
its value in words, its source, and where it was defined; the changes proposed there, the
value in force and the proposed one side by side, rule by rule; a form to propose one (a rule,
its value, its source, a day it takes effect and a reason: under four eyes a request a
supervisor approves); and the versions defined at the region. Read from the same resolution
the domain obeys (service.policy.packs)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.api.deps import NowDep, SessionDep
from service.errors import DomainError
from service.kit.clock import local_date
from service.kit.money import Day
from service.pages import i18n, rule_words
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import Text, act
from service.policy import pack_changes, packs
from service.policy import rules as r
from service.registry.institutions import in_regulator_scope
from service.registry.models import Approval
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
        proposals=_proposals(session, region, chosen, pack, _),
        rule_names=[(n, _(rule_words.NAMES[n])) for n in r.NAMES],
        back_to=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
    )


def _proposals(
    session: Session, region: str, sector: str, pack: r.RulePack, _: Any
) -> list[dict[str, Any]]:
    """The changes of this region's pack (its sector's layer or `all`) waiting for a second
    person, each rule's value in force today beside the proposed one."""
    waiting = session.scalars(
        select(Approval)
        .where(Approval.action == "rule_pack_change", Approval.status == "pending",
               Approval.region_code == region)
        .order_by(Approval.requested_at)
    )  # fmt: skip
    out = []
    for a in waiting:
        p = a.payload or {}
        if "rules" not in p or p.get("sector") not in (r.ALL, sector):
            continue
        rows = []
        for name, entry in sorted((p.get("rules") or {}).items()):
            if name not in pack.cited:
                continue
            proposed = (entry or {}).get("value")
            rows.append({"title": _(rule_words.NAMES[name]),
                         "now": rule_words.value(name, pack.cited[name].value, _),
                         "proposed": _value_words(name, proposed, _)})  # fmt: skip
        out.append({"id": a.id, "effective_from": p.get("effective_from"),
                    "reason": p.get("reason"), "rows": rows})  # fmt: skip
    return out


def _value_words(name: str, value: Any, _: Any) -> str:
    try:
        return rule_words.value(name, r.dump_value(name, r.check_value(name, value)), _)
    except (r.InvalidRule, KeyError, TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False)


@router.post("/packs/proposals")
def propose(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    sector: Annotated[str, Form(pattern=r"^[a-z_]{1,32}$")],
    rule: Annotated[str, Form(pattern=r"^[a-z_]{1,40}$")],
    value: Annotated[str, Form(min_length=1, max_length=2000)],
    source_title: Text,
    source_issuer: Text,
    effective_from: Annotated[Day, Form()],
    reason: Text,
    back_to: Annotated[str, Form(pattern=r"^/workbench/packs(\?[^#]*)?$", max_length=300)],
) -> RedirectResponse:
    """Propose one rule of a region's pack: the value as the API takes it (JSON), its source,
    the day it takes effect and a reason. The same use case as `POST /rule-packs`: under four
    eyes a request a supervisor approves (shown beside the rule in force until then)."""

    def work() -> object:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise DomainError("invalid_rule", f"{rule}.value: not JSON",
                              extra={"rule": rule, "field": "value"}) from exc  # fmt: skip
        source = {"title": source_title, "issuer": source_issuer}
        return pack_changes.submit(session, regulator=signed.regulator, region_code=region_code,
                                   sector=sector, effective_from=effective_from,
                                   rules={rule: {"value": parsed, "source": source}},
                                   reason=reason, now=now)  # fmt: skip

    return act(session, back_to, work, N_("The change is saved."))
