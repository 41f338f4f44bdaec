"""FastAPI assembly: routers, error handlers, middleware, lifespan."""

from __future__ import annotations

import gc
import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.api import problems, transactions
from service.api.admission import AdmissionMiddleware
from service.api.auth import idempotency_caller
from service.api.business_metrics import BusinessCollector
from service.api.compression import PageCompression
from service.api.idempotency import IdempotencyMiddleware
from service.api.middleware import RequestContextMiddleware, RequestGuardMiddleware
from service.api.ratelimit import RateLimitMiddleware, Vouched, parse_limits
from service.config import Settings, get_settings
from service.errors import DomainError
from service.kit import clock as clocks
from service.kit import replica as replicas
from service.kit.db import make_engine, make_sessionmaker
from service.kit.migrate import current_revision, head_revision
from service.kit.replica import Reads

API = "/api/v1"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = clocks.utcnow,
    run_scheduler: bool = False,
    reads: Reads | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url, pool_size=settings.database_pool_size)
    sessions = make_sessionmaker(engine)
    reads = reads or replicas.configured(settings, engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        scheduler = None
        if run_scheduler and settings.scheduler_enabled:
            from service.jobs.runner import start_scheduler

            scheduler = start_scheduler(
                sessions, settings=settings, engine=engine, clock=clock, reads=reads
            )
        # What exists once the app is up (modules, routes, compiled schemas) lives as long as
        # the process: out of the collector's sight, full collections no longer walk it while
        # a bank's batch of a thousand deposits is being allocated.
        gc.freeze()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)

    app = FastAPI(
        title="TuitionGuard",
        version="1",
        description="Prepaid tuition escrow, fee supervision and risk checks (双减).",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.reads = reads
    app.state.clock = clock

    from service.flows.settlement import check_complete

    check_complete()
    problems.install(app)
    _install_page_errors(app)
    _include_routers(app)
    business = CollectorRegistry(auto_describe=False)
    business.register(BusinessCollector(engine, clock, settings.business_metrics_ttl_seconds))
    _install_ops_routes(app, engine, reads, business, settings.metrics_token)
    from service.api import openapi_doc

    openapi_doc.install(app, routers())

    _install_middleware(app, settings, sessions, clock)
    return app


def _install_middleware(
    app: FastAPI, settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> None:
    # Added innermost first: the commit sees the answer before the idempotency store does.
    app.add_middleware(transactions.CommitMiddleware)
    app.add_middleware(
        IdempotencyMiddleware,
        sessions=sessions,
        retention=timedelta(days=settings.idempotency_retention_days),
        clock=clock,
        identify=idempotency_caller(sessions, settings),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        wait=timedelta(seconds=settings.idempotency_wait_seconds),
    )
    app.add_middleware(AdmissionMiddleware, limit=settings.request_threads)
    app.add_middleware(
        RequestGuardMiddleware, max_body=settings.max_body_bytes, larger=_larger_bodies(settings)
    )
    # The guards vouch for a credential once it checks (service.api.auth); until then a
    # request spends its address's budget, whatever credential it claims.
    app.state.vouched = Vouched()
    app.add_middleware(
        RateLimitMiddleware,
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        vouched=app.state.vouched,
        # RATE_LIMIT_PER_SECOND=0 turns every limit off, the kinds' own too.
        limits=parse_limits(settings.rate_limits) if settings.rate_limit_per_second else {},
    )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(PageCompression)  # outermost: it compresses the final page


def _install_page_errors(app: FastAPI) -> None:
    """The workbench answers in pages, not problems: sign in first, or an error page (a
    refusal, a form with a missing or malformed field, an unknown address)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from service.pages.parent.signin import ParentSignInRequired
    from service.pages.web import SignInRequired, error_page, sign_in_redirect

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc.next_url)

    @app.exception_handler(ParentSignInRequired)
    async def _parent_sign_in(request: Request, exc: ParentSignInRequired) -> Response:
        return RedirectResponse("/parent", status_code=303)

    def as_page(kind: type[Exception], to_domain: Any) -> None:
        api: Any = app.exception_handlers[kind]  # the API's handler: async, a problem

        async def handler(request: Request, exc: Exception) -> Response:
            if request.url.path.startswith(("/workbench", "/parent")):
                return error_page(request, to_domain(exc))
            response: Response = await api(request, exc)
            return response

        app.add_exception_handler(kind, handler)

    as_page(DomainError, lambda exc: exc)
    as_page(RequestValidationError, _form_problem)
    as_page(StarletteHTTPException, lambda exc: DomainError(
        "not_found" if exc.status_code == 404 else "bad_request", str(exc.detail)))  # fmt: skip


def _form_problem(exc: Any) -> DomainError:
    fields = ", ".join(str(e.get("loc", ("",))[-1]) for e in exc.errors())
    return DomainError("validation_error", f"fields missing or malformed: {fields}")


def _larger_bodies(settings: Settings) -> dict[str, int]:
    """Where a bank sends many things at once, its body may be larger than the default."""
    return {
        f"{API}/bank/deposits/batch": settings.max_batch_body_bytes,
        f"{API}/bank/statements": settings.max_batch_body_bytes,
    }


def routers() -> list[tuple[APIRouter, str, str]]:
    """The route table: every router, the prefix it is served under, and the guard (one of
    `service.api.auth.GUARDS`) attached to all its routes where it is included."""
    from service.api import common_routes, rule_pack_routes
    from service.api.bank import routes as bank
    from service.api.institution import keys_routes
    from service.api.institution import routes as institution
    from service.api.parent import routes as parent
    from service.api.public import routes as public
    from service.api.regulator import (
        account_routes,
        approvals_routes,
        credit_list_routes,
        fees_routes,
        flows_routes,
        institution_keys_routes,
        jobs_routes,
        officers_routes,
        risk_routes,
        winddown_routes,
    )
    from service.api.regulator import routes as regulator
    from service.pages import parent as parent_pages
    from service.pages import proofs as proof_pages
    from service.pages import routes as pages
    from service.pages import workbench

    return [
        (pages.router, "", "public"),
        # Each workbench page signs the regulator in itself (a session cookie, not a token).
        *((router, "", "public") for router in workbench.ROUTERS),
        # The parent's pages sign in with the enrollment id and access code (a cookie).
        *((router, "", "public") for router in parent_pages.ROUTERS),
        # The proofs' public pages: anyone may read them.
        (proof_pages.router, "", "public"),
        (regulator.router, API, "regulator"),
        (fees_routes.router, API, "regulator"),
        (flows_routes.router, API, "regulator"),
        (risk_routes.router, API, "regulator"),
        (winddown_routes.router, API, "regulator"),
        (jobs_routes.router, API, "regulator_outside_tx"),
        (officers_routes.router, API, "regulator"),
        (approvals_routes.router, API, "regulator"),
        (credit_list_routes.router, API, "regulator"),
        (institution_keys_routes.router, API, "regulator"),
        (officers_routes.sessions_router, API, "public"),
        (account_routes.router, API, "officer"),
        (common_routes.router, API, "regulator_or_institution"),
        (rule_pack_routes.router, API, "regulator_or_institution"),
        (rule_pack_routes.change_router, API, "regulator"),
        (institution.router, API, "institution"),
        (keys_routes.router, API, "institution"),
        (bank.router, API, "bank"),
        (parent.sessions_router, API, "public"),
        (parent.router, API, "parent"),
        (public.router, API, "public"),
        (public.well_known_router, "", "public"),
    ]


def _include_routers(app: FastAPI) -> None:
    from service.api.auth import GUARDS
    from service.api.deps import known_query_only

    for router, prefix, guard in routers():
        check = GUARDS[guard]
        dependencies = [Depends(check)] if check is not None else []
        if prefix == API:
            dependencies.append(Depends(known_query_only))
        app.include_router(router, prefix=prefix, dependencies=dependencies)


class HealthRead(BaseModel):
    status: str


class ReadReplicaRead(BaseModel):
    configured: bool
    used: bool  # whether reads that may lag go to the replica now
    lag_seconds: float | None  # None: not configured, or it did not answer


class ReadyRead(BaseModel):
    status: str
    schema_revision: str | None = None
    read_replica: ReadReplicaRead


def _install_ops_routes(
    app: FastAPI, engine: Engine, reads: Reads, business: CollectorRegistry, metrics_token: str
) -> None:
    @app.get("/healthz", tags=["ops"], response_model=HealthRead)
    def healthz() -> HealthRead:
        """Alive: the process answers."""
        return HealthRead(status="ok")

    @app.get(
        "/readyz",
        tags=["ops"],
        response_model=ReadyRead,
        responses={503: {"description": "the database is unreachable or not at head"}},
    )
    def readyz() -> Any:
        """Ready: the database answers and its schema is at the code's head revision. The
        read replica, if any, is reported (a replica that lags or is away is no reason to be
        unready: the primary answers its reads)."""
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            current, head = current_revision(engine), head_revision()
        except Exception as exc:
            return problems.problem_response(
                "unavailable", f"database unreachable: {exc.__class__.__name__}"
            )
        if current != head:
            return problems.problem_response(
                "unavailable", f"schema at {current}, code expects {head}"
            )
        replica = reads.status()
        return ReadyRead(
            status="ready",
            schema_revision=current,
            read_replica=ReadReplicaRead(
                configured=replica.configured, used=replica.used, lag_seconds=replica.lag_seconds
            ),
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=PlainTextResponse,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            401: {"description": "unauthenticated: a credential that is not METRICS_TOKEN"},
        },
    )
    def metrics(request: Request) -> Response:
        """Prometheus exposition: this process's HTTP figures, open; and, for a scraper with
        `Authorization: Bearer <METRICS_TOKEN>`, the business figures every process shares
        (service/api/business_metrics.py: money in and out, alerts, breaks)."""
        body = generate_latest()
        if _scraper(request, metrics_token):
            body += generate_latest(business)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _scraper(request: Request, metrics_token: str) -> bool:
    """True for the scrape credential; False for no credential (the open figures only). Any
    other credential is refused, so that a misconfigured scraper is told, not shown less."""
    header = request.headers.get("authorization")
    if header is None:
        return False
    scheme, _, token = header.partition(" ")
    given = token.strip().encode("utf-8", "surrogateescape")
    if (
        metrics_token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given, metrics_token.encode())
    ):
        return True
    raise DomainError("unauthenticated", "not the scrape credential (METRICS_TOKEN)")


def served_app() -> FastAPI:
    """The app each worker process of `tuitionguard serve --workers N` builds for itself. Jobs
    run elsewhere (`tuitionguard scheduler`), not once per worker."""
    from service.api.logging import configure

    settings = get_settings()
    configure(settings.log_level)
    return create_app(settings, run_scheduler=False)
