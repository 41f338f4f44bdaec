"""One typed settings object, read from the environment (prefix-free names) and checked at start."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "dev-only-change-me"  # noqa: S105 - a known placeholder, refused outside dev
# The public log's signing key in development: a seed everyone can read, refused elsewhere.
PLACEHOLDER_LOG_KEY = "dev-only-log-key-change-me"


_LOG_KEY = re.compile(r"[0-9a-fA-F]{64}")


def _default_database_url() -> str:
    return f"sqlite:///{os.path.join(os.getcwd(), 'tuitionguard.db')}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default_factory=_default_database_url)
    # A streaming replica of DATABASE_URL's primary for the reads that may lag (the pages, the
    # public disclosure, lists, the sweep's facts: service.kit.replica); unset, the primary
    # answers them. Used while no further behind than both bounds, and while it answers.
    database_read_url: str | None = Field(default=None, max_length=1000)
    read_replica_max_lag_seconds: float = Field(default=30, ge=0, le=3600)
    read_replica_max_lag_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    # Connections kept open per process. Requests run on AnyIO's 40 worker threads, so a pool
    # smaller than that opens and closes a PostgreSQL connection (a backend process) per
    # request under load. Mind PostgreSQL's max_connections when scaling `api`.
    database_pool_size: int = Field(default=40, ge=1, le=500)
    # Worker threads for requests (AnyIO's default limiter, whose own default is 40), and so
    # the requests admitted at once; more wait their turn (`service.api.admission`).
    request_threads: int = Field(default=40, ge=1, le=500)
    # Encrypts bank secrets at rest and keys the hashes of parents' short access codes.
    secret_key: str = PLACEHOLDER_SECRET
    log_level: str = "INFO"
    scheduler_enabled: bool = True
    scheduler_tick_seconds: int | None = None  # if set, every job runs at this interval
    # Bank instruction delivery: per-attempt timeout and the retry budget.
    bank_timeout_seconds: float = 5.0
    bank_max_attempts: int = 5
    bank_backoff_base_seconds: float = 0.2
    signature_window_seconds: int = 300
    # The most a single deposit may be: far above any prepayment the caps allow (60 lessons),
    # far below what would overflow an account.
    max_deposit_amount: Decimal = Field(default=Decimal("500000.00"), gt=0, le=Decimal("1e13"))
    # Request bodies: any endpoint, and a bank's batch of deposits or its day's statement.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    idempotency_retention_days: int = 7
    # How long a running request's claim on its key holds without renewal (it is renewed
    # every third of this while the request runs): how soon a retry recovers after a crash.
    idempotency_lease_seconds: float = Field(default=30, gt=0, le=600)
    # How long a request with a key another live request holds waits for that one's answer.
    idempotency_wait_seconds: float = Field(default=10, ge=0, le=60)
    # A job or sweep's `as_of`: at most this far after now (clocks differ a little between
    # machines), and at most this far before it (a missed nightly run, re-run by hand).
    clock_skew_seconds: int = Field(default=300, ge=0, le=3600)
    as_of_max_past_days: int = Field(default=31, ge=1, le=366)
    parent_session_hours: int = 12
    # Access-code guessing: free tries per client and enrollment, then a wait that doubles from
    # the base to the cap; and failures per client address over all enrollments in the lockout
    # window (a school's NAT serves many parents). A wrong code past a limit is 429; the right
    # 16-symbol code is admitted whatever the limits (docs/security.md: the arithmetic).
    parent_max_failed_attempts: int = 5
    parent_backoff_base_seconds: int = Field(default=60, ge=1)
    parent_backoff_max_seconds: int = Field(default=3600, ge=1)
    parent_max_failed_per_client: int = 20
    parent_lockout_minutes: int = 15
    # Where parents and institutions reach the service (scheme, host, port, any path prefix):
    # the sign-in links and QR codes handed to parents are built from it, never from the
    # request's Host header (a forged Host, kept by a shared cache, would print codes that send
    # parents to a fake site). Outside development it must be https.
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", pattern=r"^https?://[^/\s?#@]+(/[^\s?#]*)?$"
    )
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated
    # addresses, as uvicorn's forwarded_allow_ips); empty: none, the peer is the client.
    trusted_proxies: str = ""
    # Requests a caller may send: a bucket of `burst` refilled at `rate_limit_per_second`
    # (service.api.ratelimit); 0 turns the limit off (benchmarks that are the only caller).
    rate_limit_per_second: float = Field(default=100, ge=0, le=1_000_000)
    rate_limit_burst: float = Field(default=300, ge=1, le=10_000_000)
    # Kinds of caller with a limit of their own, `kind=rate/burst` separated by commas (kinds:
    # regulator, institution, bank, parent, addr); the others get the two above. A bank's is
    # set for its real rate (docs/security.md): a province's million enrollments pay a few
    # deposits a year each, a term's start brings at most a couple a second to its busiest
    # bank, and a bank sends its bulk in batches (one request per 1,000). 20 a second leaves
    # ten times that and stays far below what the service answers in single deposits, so a
    # bank sending singles flat out meets its limit long before the service is busy.
    rate_limits: str = Field(
        default="bank=20/200",
        max_length=300,
        pattern=r"^\s*(?:[a-z]+=[0-9.]+/[0-9.]+\s*(?:,\s*[a-z]+=[0-9.]+/[0-9.]+\s*)*)?$",
    )
    # /metrics reads the business figures from the database at most this often.
    business_metrics_ttl_seconds: float = Field(default=15, ge=0, le=300)
    # The scrape credential: /metrics adds the business figures (money, alerts, breaks) only
    # for `Authorization: Bearer <METRICS_TOKEN>`; unset, they are never served. The process
    # figures (HTTP requests, latency) are open.
    metrics_token: str = Field(default="", max_length=200)
    # The public log (docs/proofs.md): its origin line (and the name of its key), the Ed25519
    # key that signs its checkpoints (the 32-byte seed in hex, kept like SECRET_KEY), and the
    # witnesses it asks for cosignatures after each append, `vkey@url` separated by commas.
    # A checkpoint counts with `log_quorum` cosignatures (default: every witness listed).
    log_origin: str = Field(default="tuitionguard.localhost/log", pattern=r"^[^\s+]+$")
    log_signing_key: str = PLACEHOLDER_LOG_KEY
    log_witnesses: str = Field(default="", max_length=4000)
    log_quorum: int | None = Field(default=None, ge=0, le=16)
    log_witness_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _enforce_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == PLACEHOLDER_SECRET:
            raise ValueError(
                "SECRET_KEY is the development placeholder; set a real secret outside development"
            )
        self.public_base_url = self.public_base_url.rstrip("/")
        if self.environment == "production" and not self.public_base_url.startswith("https://"):
            raise ValueError("PUBLIC_BASE_URL must be https:// in production")
        if self.environment != "development" and self.log_signing_key == PLACEHOLDER_LOG_KEY:
            raise ValueError(
                "LOG_SIGNING_KEY is the development placeholder; set a real key outside development"
            )
        if self.log_signing_key != PLACEHOLDER_LOG_KEY and not _LOG_KEY.fullmatch(
            self.log_signing_key
        ):
            raise ValueError("LOG_SIGNING_KEY is an Ed25519 seed: 64 hexadecimal digits")
        if len(self.secret_key) < 16:
            raise ValueError("SECRET_KEY must be at least 16 characters")
        if self.metrics_token and len(self.metrics_token) < 24:
            raise ValueError("METRICS_TOKEN must be at least 24 characters (or unset)")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
