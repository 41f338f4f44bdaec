"""A risk sweep: evaluate every institution in scope as of an instant, keep the history,
open alerts where levels rose, and freeze where the region's policy says so."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Executable, and_, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import ledger
from service.config import Settings
from service.flows.positions import Position, by_district
from service.kit.clock import check_as_of, local_date
from service.kit.db import collector_paused
from service.kit.ids import new_id
from service.policy import packs
from service.policy.knobs import PEER_REFUND_WINDOW_DAYS, RiskConfig
from service.policy.rules import ALL
from service.registry import institutions as registry
from service.registry.models import Institution, InstitutionStatus, Regulator
from service.registry.regions import scope_prefix
from service.risk import alerts, chains
from service.risk.facts import Facts, Needs, gather, peer_refund_rates, peer_surges
from service.risk.indicators import (
    INDICATORS,
    Context,
    Indicator,
    Peers,
    delivery_ratio,
    latency_mean,
    own_surge,
    package_mean,
    renewal_ratio,
    statement_overdue,
    wind_down,
)
from service.risk.models import DistrictDay, InstitutionRisk, RiskEvaluation
from service.risk.scoring import LEVELS, Verdict, judge, rank


def evaluate(facts: Facts, ctx: Context, cfg: RiskConfig) -> Verdict:
    """The institution's verdict from every warning sign; an institution being wound up is
    judged by its wind-down alone (critical, the wind-down its evidence), not scored as a
    live school on the trading it no longer does."""
    winding = wind_down(facts, ctx, cfg)
    if winding is not None:
        return judge([winding])
    fired: list[Indicator] = []
    for code, fn in INDICATORS.items():
        if code == "chain_sibling":  # weighed with the signs of all the others
            facts.own_signs = sum(i.contribution for i in fired)
        if (ind := fn(facts, ctx, cfg)) is not None:
            fired.append(ind)
    return judge(fired)


def evaluate_all(
    session: Session, facts: dict[str, Facts], ctx: Context, cfgs: dict[str, RiskConfig]
) -> dict[str, Verdict]:
    """Every institution's verdict; then, where a sponsor has a campus with a hard signal,
    its other campuses again with the chain in view (service.risk.chains)."""
    verdicts = {
        i: evaluate(f, ctx, cfgs.get(f.region_code) or RiskConfig()) for i, f in facts.items()
    }
    chained = chains.with_chains(session, ctx, facts, verdicts)
    for i in chains.linked(facts, chained):
        f = facts[i]
        verdicts[i] = evaluate(f, chained, cfgs.get(f.region_code) or RiskConfig())
    return verdicts


def region_configs(
    session: Session,
    *,
    as_of: datetime,
    region_prefix: str | None,
    institution_ids: list[str] | None,
) -> dict[str, RiskConfig]:
    """The risk knobs of every region with an institution in scope, by region code."""
    stmt = select(Institution.region_code).distinct()
    if region_prefix:
        stmt = stmt.where(Institution.region_code.startswith(region_prefix))
    if institution_ids is not None:
        stmt = stmt.where(Institution.id.in_(institution_ids))
    return packs.risk_configs(session, session.scalars(stmt), on=local_date(as_of))


def _context(
    session: Session,
    facts: dict[str, Facts],
    cfgs: dict[str, RiskConfig],
    as_of: datetime,
    *,
    whole: bool,
) -> Context:
    """What each institution is judged beside: its city's median refund rate and its city's
    peers' surges (by category). A whole sweep derives them from its own facts; a sweep of a
    few institutions reads them in aggregate."""
    if whole:
        rates = _region_refund_rates(facts, as_of)
        surges = _own_surges(facts, cfgs, as_of)
    else:
        cities = {f.region_code[:4] for f in facts.values()}
        rates = peer_refund_rates(session, cities, as_of)
        keys = {(f.region_code[:4], f.category) for f in facts.values()}
        cfg = next(iter(cfgs.values()), RiskConfig())
        surges = peer_surges(session, keys, as_of, cfg)
    peers = _medians(surges)
    silent = silent_banks(facts, cfgs, as_of)
    if not whole:  # the trends' peers are a whole sweep's: a few institutions are not judged
        return Context(as_of=as_of, region_refund_rate=rates, peer_surge=peers,
                       silent_banks=silent)  # fmt: skip
    trends = _trend_peers(facts, cfgs, as_of)
    return Context(
        as_of=as_of, region_refund_rate=rates, peer_surge=peers,
        peer_latency=_medians(trends["latency"]), peer_renewal=_medians(trends["renewal"]),
        peer_package=_medians(trends["package"]), peer_delivery=_medians(trends["delivery"]),
        district_delivery=_medians(trends["district"]), silent_banks=silent,
    )  # fmt: skip


def silent_banks(
    facts: dict[str, Facts], cfgs: dict[str, RiskConfig], as_of: datetime
) -> dict[tuple[str | None, date], int]:
    """The accounts in hand whose bank has been silent (`statement_overdue`) since the same
    bank day, counted by (bank, day). A sweep of a few institutions counts only those: the
    midday `statement_missing` job sweeps every silent one together, so it sees the bank's
    silence whole; a bank's message re-evaluating one school does not."""
    out: Counter[tuple[str | None, date]] = Counter()
    today = local_date(as_of)
    for f in facts.values():
        last = f.last_statement_date or local_date(f.created_at)
        cfg = cfgs.get(f.region_code) or RiskConfig()
        if (today - last).days < cfg.statement_missing.threshold:
            continue  # fewer calendar days than the working days it needs
        if (silence := statement_overdue(f, as_of, cfg)) is not None:
            out[(f.bank_id, silence[0])] += 1
    return dict(out)


def _medians(values: dict[Any, list[Decimal]]) -> dict[Any, Peers]:
    return {
        k: Peers(median=Decimal(statistics.median(v)), count=len(v)) for k, v in values.items() if v
    }


def _trend_peers(
    facts: dict[str, Facts], cfgs: dict[str, RiskConfig], as_of: datetime
) -> dict[str, dict[Any, list[Decimal]]]:
    """Each city's own figures the trends and the young are judged beside: answer latency,
    new money against its pace (by category), lessons a package, delivered share (also by
    district: a district that stopped together is a systemic event)."""
    out: dict[str, dict[Any, list[Decimal]]] = {
        "latency": {}, "renewal": {}, "package": {}, "delivery": {}, "district": {}
    }  # fmt: skip
    for f in facts.values():
        cfg, city = cfgs.get(f.region_code) or RiskConfig(), f.region_code[:4]
        mean, n = latency_mean(f, as_of, cfg.refund_latency.window_days)
        if n:
            out["latency"].setdefault(city, []).append(mean)
        ratio = renewal_ratio(f, as_of, cfg.renewal_decline)
        if ratio is not None:
            out["renewal"].setdefault((city, f.category), []).append(ratio)
        package = package_mean(f, cfg.young_school)
        if package is not None:
            out["package"].setdefault(city, []).append(package)
        delivered = delivery_ratio(f, as_of, cfg.delivery_share)
        if delivered is not None:
            out["delivery"].setdefault(city, []).append(delivered)
            out["district"].setdefault(f.region_code, []).append(delivered)
    return out


def systemic_events(ctx: Context, cfgs: dict[str, RiskConfig]) -> list[dict[str, Any]]:
    """The systemic events of the sweep, each once: the one notice the sweep's record
    carries, where the schools themselves are not judged on it. The places whose schools
    stopped teaching together (`stopped_together`: classes suspended by order; a city that
    stopped as a whole is named without its districts), and the banks silent since the same
    day on `systemic_schools` accounts or more (`silent_banks`)."""
    out = _stopped_places(ctx, cfgs)
    least = min((c.statement_missing.systemic_schools for c in cfgs.values()),
                default=RiskConfig().statement_missing.systemic_schools)  # fmt: skip
    for (bank, since), n in sorted(ctx.silent_banks.items(), key=lambda kv: str(kv[0])):
        if n >= least:
            out.append({"event": "statements_missing", "bank_id": bank,
                        "since": since.isoformat(), "institutions": n})  # fmt: skip
    return out


def _stopped_places(ctx: Context, cfgs: dict[str, RiskConfig]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cities = {k for k in ctx.peer_delivery}
    for place, peers in sorted({**ctx.peer_delivery, **ctx.district_delivery}.items()):
        cfg = cfgs.get(place) or next(
            (v for k, v in cfgs.items() if k.startswith(place)), RiskConfig()
        )
        c = cfg.delivery_share
        if peers.count < c.min_peers or peers.median >= c.peer_floor:
            continue
        if (
            len(place) > 4
            and place[:4] in cities
            and any(e["region_code"] == place[:4] + "00" for e in out)
        ):
            continue  # the city's own event says it
        out.append({"event": "classes_stopped", "region_code": place.ljust(6, "0"),
                    "delivered": str(peers.median.quantize(Decimal("0.01"))),
                    "institutions": peers.count})  # fmt: skip
    return out


def _own_surges(
    facts: dict[str, Facts], cfgs: dict[str, RiskConfig], as_of: datetime
) -> dict[tuple[str, str], list[Decimal]]:
    """Each (city, category)'s own surge ratios, of the institutions with enough history."""
    out: dict[tuple[str, str], list[Decimal]] = {}
    for f in facts.values():
        surge = own_surge(f, as_of, (cfgs.get(f.region_code) or RiskConfig()).prepay_surge)
        if not isinstance(surge, str):
            out.setdefault((f.region_code[:4], f.category), []).append(surge)
    return out


def _region_refund_rates(facts: dict[str, Facts], as_of: datetime) -> dict[str, Decimal]:
    rates: dict[str, list[Decimal]] = {}
    for f in facts.values():
        if f.active_enrollments:
            recent = f.total("refund_requests", as_of, PEER_REFUND_WINDOW_DAYS)
            rates.setdefault(f.region_code[:4], []).append(Decimal(recent) / f.active_enrollments)
    return {k: Decimal(statistics.median(v)) for k, v in rates.items()}


def _previous_levels(session: Session, ids: list[str], as_of: datetime) -> dict[str, str]:
    last = (
        select(RiskEvaluation.institution_id, func.max(RiskEvaluation.as_of).label("at"))
        .where(RiskEvaluation.as_of < as_of, RiskEvaluation.as_of > as_of - timedelta(days=30))
        .group_by(RiskEvaluation.institution_id)
        .subquery()
    )
    rows = session.execute(
        select(RiskEvaluation.institution_id, RiskEvaluation.level).join(
            last,
            and_(
                RiskEvaluation.institution_id == last.c.institution_id,
                RiskEvaluation.as_of == last.c.at,
            ),
        )
    )
    wanted = set(ids)
    return {i: lvl for i, lvl in rows if i in wanted}


def sweep(
    session: Session,
    *,
    as_of: datetime,
    now: datetime,
    region_prefix: str | None = None,
    institution_ids: list[str] | None = None,
    facts_from: Session | None = None,
) -> dict[str, Any]:
    """Evaluate every institution in scope as of an instant with its region's knobs, keep the
    evaluations, open alerts where levels rose, and freeze where the region says so. The
    facts are read with `facts_from` if given (a read replica's session: they may lag it by
    its bound, service.kit.replica), else with `session`; what the sweep writes, and the
    levels and alerts it compares with, are the primary's."""
    # A whole sweep makes some thirty containers an institution, hundreds of thousands that
    # all live until it ends: collections walked them for nothing, a fifth of its CPU.
    with collector_paused():
        return _sweep(session, as_of=as_of, now=now, region_prefix=region_prefix,
                      institution_ids=institution_ids, facts_from=facts_from)  # fmt: skip


def _sweep(
    session: Session,
    *,
    as_of: datetime,
    now: datetime,
    region_prefix: str | None,
    institution_ids: list[str] | None,
    facts_from: Session | None,
) -> dict[str, Any]:
    cfgs = region_configs(
        session, as_of=as_of, region_prefix=region_prefix, institution_ids=institution_ids
    )
    facts = gather(
        facts_from or session,
        as_of=as_of,
        needs=Needs.of(cfgs.values()),
        institution_ids=institution_ids,
        region_prefix=region_prefix,
    )
    ids = list(facts)
    ctx = _context(session, facts, cfgs, as_of, whole=institution_ids is None)
    previous = _previous_levels(session, ids, as_of)
    active = alerts.active_alerts(session, ids)
    session.execute(
        delete(RiskEvaluation).where(
            RiskEvaluation.as_of == as_of, RiskEvaluation.institution_id.in_(ids)
        )
    )
    levels: Counter[str] = Counter()
    opened = frozen = 0
    rows = []
    verdicts = evaluate_all(session, facts, ctx, cfgs)
    for inst_id, f in facts.items():
        verdict = verdicts[inst_id]
        levels[verdict.level] += 1
        rows.append(_evaluation(inst_id, as_of, verdict, now))
        if verdict.level != "low":
            rose = rank(verdict.level) > rank(previous.get(inst_id, "low"))
            opened += alerts.on_verdict(
                session, institution_id=inst_id, verdict=verdict, active=active.get(inst_id),
                at=as_of, rose=rose,
            )  # fmt: skip
        frozen += _auto_freeze(session, f, verdict, now)
    # The evaluations as one multi-row insert of plain rows: as objects, the session's
    # flush of 10,000 of them cost more than any one query of the sweep.
    if rows:
        session.execute(insert(RiskEvaluation), rows)
    session.flush()
    _keep_current(session, rows)
    # Whole districts only, and today only (money is read as it stands now).
    if institution_ids is None and local_date(as_of) == local_date(now):
        # Read from a replica, the facts may lack an institution made within its lag.
        _district_days(session, facts, rows, as_of, None if facts_from else region_prefix or "")
    return {
        "as_of": as_of.isoformat(),
        "institutions_evaluated": len(facts),
        "alerts_opened": opened,
        "institutions_frozen": frozen,
        "levels": {lvl: levels.get(lvl, 0) for lvl in LEVELS},
        "systemic_events": systemic_events(ctx, cfgs),
    }


def _keep_current(session: Session, rows: list[dict[str, Any]]) -> None:
    """Each institution's latest evaluation, beside the history: replaced by a sweep at the
    same or a later instant, never by one for an earlier instant."""
    if not rows:
        return
    session.execute(
        _current_upsert(session.get_bind().dialect.name),
        [{"institution_id": r["institution_id"], "score": r["score"], "level": r["level"],
          "as_of": r["as_of"]} for r in rows],
    )  # fmt: skip


@cache
def _current_upsert(dialect_name: str) -> Executable:
    """An institution's latest evaluation, replaced by a later one: compiled once."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = InstitutionRisk.__table__
    stmt = dialect.insert(table)
    upsert = stmt.on_conflict_do_update(
        index_elements=["institution_id"],
        set_={"score": stmt.excluded.score, "level": stmt.excluded.level,
              "as_of": stmt.excluded.as_of},
        where=stmt.excluded.as_of >= table.c.as_of,
    )  # fmt: skip
    return ledger.prebuilt(upsert, dialect_name)


def _district_days(
    session: Session,
    facts: dict[str, Facts],
    rows: list[dict[str, Any]],
    as_of: datetime,
    region_prefix: str | None,
) -> None:
    """The day's count at each level and the money supervised, per district swept (one
    upsert for every district). `region_prefix` ("" for all) selects the institutions as
    `gather` did, all made by as_of; None: those of the facts, by id."""
    counts: dict[str, Counter[str]] = {}
    for r in rows:
        counts.setdefault(facts[r["institution_id"]].region_code, Counter())[r["level"]] += 1
    # The institutions swept, selected as `gather` selected them (a whole sweep's: every
    # one made by as_of, in the prefix), not as a list of 10,000 ids compiled into each of
    # by_district's three statements.
    scope = select(Institution.id).where(
        Institution.created_at <= as_of
        if region_prefix is not None
        else Institution.id.in_(list(facts)),
    )
    if region_prefix:
        scope = scope.where(Institution.region_code.startswith(region_prefix))
    money = by_district(session, scope)
    day = local_date(as_of)
    values = []
    for code in sorted(counts):
        n, p = counts[code], money.get(code, Position())
        values.append(
            {"region_code": code, "day": day, "low": n["low"], "medium": n["medium"],
             "high": n["high"], "critical": n["critical"], "escrow": p.escrow,
             "bank_balance": p.bank_balance, "owed": p.owed}
        )  # fmt: skip
    if values:
        session.execute(_district_upsert(session.get_bind().dialect.name), values)


@cache
def _district_upsert(dialect_name: str) -> Executable:
    """A district's day, replaced by a later sweep of the same day: built and compiled once."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = DistrictDay.__table__
    stmt = dialect.insert(table)
    upsert = stmt.on_conflict_do_update(
        index_elements=["region_code", "day"],
        set_={k: stmt.excluded[k] for k in
              ("low", "medium", "high", "critical", "escrow", "bank_balance", "owed")},
    )  # fmt: skip
    return ledger.prebuilt(upsert, dialect_name)


def _evaluation(inst_id: str, as_of: datetime, verdict: Verdict, now: datetime) -> dict[str, Any]:
    """A risk_evaluations row."""
    return {
        "id": new_id("rev"),
        "institution_id": inst_id,
        "as_of": as_of,
        "score": verdict.score,
        "level": verdict.level,
        "indicators": [i.record() for i in verdict.indicators],
        "created_at": now,
    }


def _auto_freeze(session: Session, f: Facts, verdict: Verdict, now: datetime) -> int:
    """Freeze a critical institution where its region's policy says so; 1 if frozen now."""
    on = local_date(now)
    if verdict.level != "critical":
        return 0
    if not packs.resolve(session, f.region_code, ALL, on=on).values.auto_freeze_on_critical.enabled:
        return 0
    inst = session.get(Institution, f.institution_id)
    if inst is None or inst.status != "active":
        return 0
    registry.set_status(
        session,
        institution=inst,
        status=InstitutionStatus.FROZEN,
        actor="risk_sweep",
        reason=f"critical risk (score {verdict.score}) with auto-freeze policy",
        now=now,
    )
    return 1


def sweep_as(
    session: Session, *, regulator: Regulator, as_of: datetime, now: datetime, settings: Settings
) -> dict[str, Any]:
    """A regulator re-evaluates their region as the clock read `as_of` (never later than now,
    nor before the re-run bound). Audited."""
    check_as_of(as_of, now=now, settings=settings)
    out = sweep(session, as_of=as_of, now=now, region_prefix=scope_prefix(regulator.region_code))
    registry.audit(session, actor=f"regulator:{regulator.id}", action="risk:sweep",
                   subject=regulator.region_code, detail={"as_of": as_of.isoformat()},
                   now=now, region_code=regulator.region_code)  # fmt: skip
    return out


def history_of(
    session: Session, *, regulator: Regulator, institution_id: str, limit: int
) -> list[RiskEvaluation]:
    """An institution's evaluations, the latest `limit` of them, oldest first."""
    registry.in_regulator_scope(session, regulator, institution_id)
    rows = session.scalars(
        select(RiskEvaluation)
        .where(RiskEvaluation.institution_id == institution_id)
        .order_by(RiskEvaluation.as_of.desc())
        .limit(limit)
    )
    return list(reversed(list(rows)))
