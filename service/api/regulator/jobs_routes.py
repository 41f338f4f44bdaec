"""A regulator runs a named job for their region (the scheduler runs them all on schedule).

The regulator is authenticated in a transaction of its own, closed before the job runs: the
job opens its own transactions, and on SQLite none may be left open beside them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.auth import RegulatorOutsideTxDep, officer_id_of
from service.api.deps import NowDep, SettingsDep
from service.api.problems import refusals
from service.api.regulator.schemas import AsOfIn, JobRunRead
from service.jobs.runner import run_job
from service.registry.regions import scope_prefix

router = APIRouter(tags=["regulator"])


@router.post(
    "/jobs/{name}/run",
    response_model=JobRunRead,
    # `as_of` inside the re-run window: bounds that move with the clock.
    responses=refusals("as_of_in_future", "as_of_too_old", "unknown_job", "job_not_regional"),
)
def run(
    name: str,
    body: AsOfIn,
    regulator: RegulatorOutsideTxDep,
    request: Request,
    now: NowDep,
    settings: SettingsDep,
) -> JobRunRead:
    """Run a job for the regulator's region only, as if the clock read `as_of` (default now;
    never later than now, nor older than the re-run bound). Audited."""
    out = run_job(
        request.app.state.sessions,
        name,
        as_of=body.as_of or now,
        settings=settings,
        now=now,
        clock=request.app.state.clock,
        region_prefix=scope_prefix(regulator.region_code),
        actor=f"regulator:{regulator.id}",
        officer_id=officer_id_of(request),
    )
    return JobRunRead(**out)
