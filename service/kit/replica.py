"""Reads that may lag: a streaming replica while it is close enough behind, else the primary.

`DATABASE_READ_URL` names a streaming replica of `DATABASE_URL`'s primary. The pages, the
public disclosure, lists and the sweep's facts read through `Reads.pick()`: the replica's
sessions while its lag was last measured within both bounds (seconds and bytes of WAL not
yet replayed) and it answered; otherwise None, and the caller reads with the primary session
it already holds (the request's, the job's), so that falling back costs no second connection
to the primary (a page would hold two from one pool, and 40 threads waiting for their second
would starve it) and, on SQLite, no second writer's lock. Anything that decides about money
reads the primary: it takes the request's own session (`service.api.deps.SessionDep`), never
a read one, and a test holds every route that writes to that
(tests/unit/test_read_replica_rule.py).

A replica's session is a `ReadSession`: it refuses to flush a change (the server refuses
anything else: a standby is read-only).

The lag is measured at most once a `check_every` seconds, by one thread while the others use
the last measurement, so a request pays for it at most once a second across the process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings

CHECK_EVERY_SECONDS = 1.0
# Set on a page's answer to a form (a write) for READ_REPLICA_MAX_LAG_SECONDS: the reads of
# the browser that wrote go to the primary meanwhile, so an officer sees what they just did
# (after that, a replica within the bound has replayed it). Its value means nothing: a
# forged one only sends that browser's reads to the primary.
WROTE_COOKIE = "tg_wrote"


class ReadSession(Session):
    """A session for reads that may lag: it writes nothing."""


@event.listens_for(ReadSession, "before_flush")
def _refuse_flush(session: Session, _context: Any, _instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyViolation("a read session was asked to write")


class ReadOnlyViolation(RuntimeError):
    """A change made through a read session: a programming error, never the caller's."""


@dataclass(frozen=True)
class Lag:
    """How far the replica is behind the primary: seconds since the last transaction it
    replayed (0 when it has replayed all the primary has written), and bytes of WAL the
    primary has written that it has not replayed."""

    seconds: float
    bytes: int


# Measures the replica's lag; None when it does not answer or is not a replica.
LagSource = Callable[[], Lag | None]


@dataclass(frozen=True)
class ReplicaStatus:
    configured: bool
    used: bool
    lag_seconds: float | None


def read_sessionmaker(engine: Engine) -> sessionmaker[ReadSession]:
    return sessionmaker(bind=engine, class_=ReadSession, expire_on_commit=False, autoflush=True)


class Reads:
    """Where reads that may lag go now. `replica` None: no replica is configured, and the
    primary answers every read. `replica` may be any engine with a `lag` source (the tests'
    fakes); a PostgreSQL replica without one is measured against `primary`."""

    def __init__(
        self,
        primary: Engine,
        replica: Engine | None = None,
        *,
        lag: LagSource | None = None,
        max_lag_seconds: float = 30,
        max_lag_bytes: int = 10 * 1024 * 1024,
        check_every: float = CHECK_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replica = read_sessionmaker(replica) if replica is not None else None
        if replica is not None and lag is None:
            lag = postgres_lag(primary, replica)
        self._lag = lag
        self.max_lag_seconds = max_lag_seconds
        self.max_lag_bytes = max_lag_bytes
        self.check_every = check_every
        self._monotonic = monotonic
        self._checking = threading.Lock()
        self._checked_at: float | None = None
        self._last: Lag | None = None

    @property
    def configured(self) -> bool:
        return self.replica is not None

    def _within(self, lag: Lag | None) -> bool:
        return (
            lag is not None
            and lag.seconds <= self.max_lag_seconds
            and lag.bytes <= self.max_lag_bytes
        )

    def _refresh(self) -> None:
        """Measure again if the last measurement is older than `check_every`: by one thread;
        the others go on with the last one meanwhile (the first ones wait for it)."""
        if self._lag is None:
            return
        at = self._monotonic()
        if self._checked_at is not None and at - self._checked_at < self.check_every:
            return
        if not self._checking.acquire(blocking=self._checked_at is None):
            return
        try:
            if self._checked_at is not None and self._monotonic() - self._checked_at < (
                self.check_every
            ):
                return
            try:
                self._last = self._lag()
            except Exception:  # it does not answer: the primary answers until it does
                self._last = None
            self._checked_at = self._monotonic()
        finally:
            self._checking.release()

    def _now(self) -> tuple[bool, Lag | None]:
        """Whether reads that may lag go to the replica now, and its last measured lag (one
        reading of it: another thread may measure again meanwhile)."""
        if self.replica is None:
            return False, None
        self._refresh()
        last = self._last
        return self._within(last), last

    def pick(self) -> tuple[sessionmaker[ReadSession] | None, Freshness]:
        """The replica's sessions for reads that may lag, if it is to be used now (None: read
        with the primary session at hand), and how current what they read is."""
        used, last = self._now()
        if self.replica is not None and used and last is not None:
            return self.replica, Freshness(replica=True, lag_seconds=last.seconds)
        return None, Freshness(replica=False, lag_seconds=0.0)

    def failed(self) -> None:
        """A read on the replica failed (it went away mid-request): the primary answers until
        the next measurement finds it back."""
        self._last = None
        self._checked_at = self._monotonic()

    def status(self) -> ReplicaStatus:
        used, last = self._now()
        return ReplicaStatus(
            configured=self.configured,
            used=used,
            lag_seconds=round(last.seconds, 3) if last is not None else None,
        )


@dataclass(frozen=True)
class Freshness:
    replica: bool  # read from the replica (else the primary: current)
    lag_seconds: float


def lsn(value: str) -> int:
    """A PostgreSQL WAL position (`16/B374D848`) as a byte offset."""
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def postgres_lag(primary: Engine, replica: Engine) -> LagSource:
    """The replica's lag measured against its primary: the primary's current WAL position
    less the replica's replayed position (bytes), and the age of the last transaction the
    replica replayed when it has not replayed all (seconds; an idle primary writes nothing,
    so a replica that has caught up is 0 s behind however old its last transaction). A
    server that is not in recovery is not a replica (a promoted one has its own history):
    None, and the primary answers."""

    def measure() -> Lag | None:
        with replica.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                )
            ).one()
        recovering, replayed, age = row
        if not recovering or replayed is None:
            return None
        with primary.connect() as conn:
            written = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        behind = max(0, lsn(written) - lsn(replayed))
        seconds = 0.0 if behind == 0 else max(0.0, float(age or 0))
        return Lag(seconds=seconds, bytes=behind)

    return measure


def configured(settings: Settings, primary: Engine) -> Reads:
    """The read replica of DATABASE_READ_URL, if set, measured against the primary. A replica
    that does not answer must not hold a request long: 2 s to connect."""
    from service.kit.db import make_engine

    replica = None
    if settings.database_read_url:
        replica = make_engine(
            settings.database_read_url,
            pool_size=settings.database_pool_size,
            connect_args={"connect_timeout": 2},
        )
    return Reads(
        primary,
        replica,
        max_lag_seconds=settings.read_replica_max_lag_seconds,
        max_lag_bytes=settings.read_replica_max_lag_bytes,
    )
