"""Rule packs over HTTP (docs/api.md, the rule-pack routes): the pack in force and every
version, for any regulator or institution (the rules are public texts); a change, for a
regulator of the region."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from service.api.auth import RegulatorDep, RegulatorOrInstitutionDep
from service.api.deps import NowDep, SessionDep
from service.api.problems import refusals
from service.api.regulator.approvals_routes import PENDING_RESPONSE, accepted
from service.api.schemas import Read
from service.errors import DomainError
from service.fees.working_days import FIRST_DAY
from service.kit.clock import local_date
from service.kit.money import Day, DayOut, InstantOut
from service.kit.wire import RegionCode, Strict
from service.policy import approvals, pack_changes, packs
from service.policy import rules as r
from service.policy.models import RulePackVersion
from service.registry.models import Institution
from service.registry.regions import is_valid_region

router = APIRouter(tags=["regulator", "institution"])
change_router = APIRouter(tags=["regulator"])
Region = Annotated[RegionCode, Query(description="a region, or 000000: the national level")]
# The sectors there are, listed in the document (any other is 422 `validation_error`).
SectorQuery = Annotated[
    str | None,
    Query(pattern=r"^[a-z_]{1,32}$", json_schema_extra={"enum": [r.ALL, *r.SECTORS]}),
]


class SourceRead(Read):
    title: str
    number: str | None = None
    issuer: str
    article: str | None = None
    url: str | None = None
    note: str | None = Field(default=None, description="what was not verified, if anything")


# The day the service's own defaults (version 0) are answered as in force from: the contract
# gives every rule an `effective_from` day, and the defaults hold for every day the service
# answers (the first of them).
DEFAULTS_FROM = FIRST_DAY


class CitedRuleRead(Read):
    value: Any
    source: SourceRead
    region_code: str = Field(description="where it was defined (000000: national)")
    sector: str
    version: int = Field(description="0: the service's default")
    effective_from: DayOut = Field(
        description="the day the version took effect (the service's default: 2000-01-01)"
    )


class EffectivePackRead(Read):
    region_code: str
    on: DayOut
    sector: str
    rules: dict[str, CitedRuleRead]

    @classmethod
    def of(cls, pack: r.RulePack) -> EffectivePackRead:
        return cls(
            region_code=pack.region_code,
            on=pack.on,
            sector=pack.sector,
            rules={
                name: CitedRuleRead(
                    value=c.value,
                    source=SourceRead(**c.source.model_dump()),
                    region_code=c.region_code,
                    sector=c.sector,
                    version=c.version,
                    effective_from=c.effective_from or DEFAULTS_FROM,
                )
                for name, c in pack.cited.items()
            },
        )


class RuleEntryRead(Read):
    value: Any
    source: SourceRead


class RulePackVersionRead(Read):
    id: str
    region_code: str
    sector: str
    version: int
    effective_from: DayOut
    rules: dict[str, RuleEntryRead]
    changed: list[str]
    reason: str | None
    actor: str
    created_at: InstantOut

    @classmethod
    def of(cls, v: RulePackVersion) -> RulePackVersionRead:
        return cls(
            id=v.id,
            region_code=v.region_code,
            sector=v.sector,
            version=v.version,
            effective_from=v.effective_from,
            rules={k: RuleEntryRead.model_validate(e) for k, e in v.rules.items()},
            changed=list(v.changed),
            reason=v.reason,
            actor=v.actor,
            created_at=v.created_at,
        )


class RulePackVersionsRead(Read):
    region_code: str
    sector: str | None
    items: list[RulePackVersionRead]


class RulePackIn(Strict):
    region_code: RegionCode
    sector: str = Field(min_length=1, max_length=32, description="a sector, or `all`")
    effective_from: Day
    rules: dict[str, Any] = Field(
        min_length=1, max_length=64, description="{NAME: {value, source}}; checked per rule"
    )
    reason: str = Field(min_length=1, max_length=2000)


def _region(code: str | None, caller: Any) -> str:
    region = code or caller.region_code
    if region != r.NATIONAL and not is_valid_region(region):
        raise DomainError("invalid_region_code", f"unknown region code {region!r}")
    return region


def _sector(sector: str | None, caller: Any) -> str:
    if sector is None:
        return (
            packs.sector_of(caller.category)
            if isinstance(caller, Institution)
            else "education_subject"
        )
    if sector != r.ALL and sector not in r.SECTORS:
        raise DomainError(
            "validation_error",
            f"sector {sector!r}: one of {', '.join((r.ALL, *r.SECTORS))}",
            extra={"errors": [{"field": "query.sector", "message": "unknown sector"}]},
        )
    return sector


@router.get(
    "/rule-packs/effective",
    response_model=EffectivePackRead,
    responses=refusals("invalid_region_code"),
)
def effective(
    caller: RegulatorOrInstitutionDep,
    session: SessionDep,
    now: NowDep,
    region_code: Region | None = None,
    on: Annotated[Day | None, Query(description="default: today (Beijing)")] = None,
    sector: SectorQuery = None,
) -> EffectivePackRead:
    """The pack in force in a region for a sector on a day, every rule with its value, its
    source and where it was defined. Defaults: the caller's region, an institution's own
    sector (a regulator's: `education_subject`), today."""
    day: date = on or local_date(now)
    pack = packs.resolve(session, _region(region_code, caller), _sector(sector, caller), on=day)
    return EffectivePackRead.of(pack)


@router.get(
    "/rule-packs", response_model=RulePackVersionsRead, responses=refusals("invalid_region_code")
)
def versions(
    caller: RegulatorOrInstitutionDep,
    session: SessionDep,
    region_code: Region | None = None,
    sector: SectorQuery = None,
) -> RulePackVersionsRead:
    """Every version defined at that region (of one sector, or of all), newest first."""
    region = _region(region_code, caller)
    chosen = None if sector is None else _sector(sector, caller)
    rows = packs.versions(session, region, chosen)
    return RulePackVersionsRead(
        region_code=region, sector=chosen, items=[RulePackVersionRead.of(v) for v in rows]
    )


@change_router.post(
    "/rule-packs",
    status_code=201,
    response_model=RulePackVersionRead,
    # Each rule's value is checked by the rule itself (`invalid_rule`), in a free-form map.
    responses={
        **PENDING_RESPONSE,
        **refusals("invalid_rule", "invalid_region_code", "out_of_region"),
    },
)
def change(body: RulePackIn, regulator: RegulatorDep, session: SessionDep, now: NowDep) -> Any:
    """A new version of a region's pack, from a day (today or later), with a reason. 422
    `invalid_rule` names the rule and the field. Where the region's pack asks for four eyes on
    `rule_pack_change` (the default list), 202 `{approval}` and nothing changes until a
    supervisor approves."""
    done = pack_changes.submit(
        session,
        regulator=regulator,
        region_code=body.region_code,
        sector=body.sector,
        effective_from=body.effective_from,
        rules=body.rules,
        reason=body.reason,
        now=now,
    )
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    return RulePackVersionRead.model_validate(done.answer)
