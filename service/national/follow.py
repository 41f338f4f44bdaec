"""The national database follows each province's leader across a failover (issue 37).

PostgreSQL 15 keeps a logical replication slot on the server that made it: when a province's
Patroni promotes its standby, the subscription's slot (`tg_national`) stays behind on the lost
server, and the new leader either has none (the subscription's worker fails, again and again)
or has one made afresh that starts at the new leader's present (the changes between the two
are lost to the subscription, silently). Failover slots arrive in PostgreSQL 17.

So the national side watches each province's leader, as its subscription reaches it (HAProxy's
write port or Patroni's leader address), and decides:

- the leader is not reachable: wait (a failover under way);
- the leader is another server or another history (its system identifier or its timeline is
  not the one the subscription was made on), the slot is missing, there is no subscription,
  or its apply worker has not run for a while: resynchronise;
- a resynchronisation's copy is complete: the province follows again.

Resynchronising drops the subscription without touching the old slot (`slot_name = NONE`: the
old leader is gone), deletes that province's rollup rows on the national database (its own
province in every key: no other province's row is touched), records the province as
resynchronising with the as-of of its last figures, drops any stale slot on the new leader,
and subscribes again with `copy_data = true`: the rollups are a snapshot of the province, so a
full copy is correct. Until every table's copy is done the national workbench shows the
province as resynchronising, with its last as-of, and no figures (the copy of one table may
stand at another instant than the copy of the next; the province's figures are only one
refresh once the subscription streams again).

`decide` and the SQL are pure (tests/unit/test_national_follow.py); `Follower` does the
talking (`tuitionguard national-follow`; bench/national_failover.py runs it against a province
on Patroni)."""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.orm import Session

from service.kit.db import make_sessionmaker, run_in_transaction
from service.national.models import TABLES, NationalProvince, NationalSync

PUBLICATION = "tg_national"  # each province's publication (deploy/province/publication.sql)
SLOT = "tg_national"  # and the slot its subscriber holds on it
WORKER_DOWN_SECONDS = 60  # an apply worker not running this long, on the same leader: resync
EVERY_SECONDS = 2.0  # how often the follower looks


class Action(enum.StrEnum):
    FOLLOWING = "following"  # all well
    WAIT = "wait"  # the province's leader is not reachable: a failover under way
    RESYNC = "resync"  # subscribe again on the leader and copy the province whole
    COPYING = "copying"  # a resynchronisation's copy under way
    DONE = "done"  # the copy is complete: the province follows again


@dataclass(frozen=True)
class Leader:
    """The server a province's writes go to, and which history it is on: a promoted standby
    keeps the cluster's system identifier and starts a new timeline."""

    system_id: str
    timeline: int


@dataclass(frozen=True)
class Seen:
    """What the follower saw of one province, on both sides."""

    leader: Leader | None  # None: the province's leader endpoint did not answer as a leader
    slot: bool  # the slot is on that leader
    subscription: bool  # the national database has the province's subscription
    worker_down_seconds: float  # how long its apply worker has not been running (0: running)
    tables_ready: bool  # every table of the subscription copied and streaming
    state: NationalSync | None  # what the national database recorded for the province


def decide(seen: Seen) -> tuple[Action, str]:
    """What to do about one province, and why (said in the follower's log and kept in
    `national_sync.reason`)."""
    if seen.leader is None:
        return Action.WAIT, "the province's leader does not answer"
    st = seen.state
    if not seen.subscription:
        return Action.RESYNC, "no subscription to the province"
    if st is None:  # a subscription made by hand: which leader it was made on is not known
        return Action.RESYNC, "a subscription this follower did not make"
    if (st.system_id, st.timeline) != (seen.leader.system_id, seen.leader.timeline):
        return Action.RESYNC, (
            f"the province's leader changed (timeline {st.timeline} to "
            f"{seen.leader.timeline}, system {st.system_id} to {seen.leader.system_id})"
        )
    if not seen.slot:
        return Action.RESYNC, f"the slot {SLOT} is not on the province's leader"
    if st.state == "resyncing":
        return (Action.DONE, "copied") if seen.tables_ready else (Action.COPYING, "copying")
    if seen.worker_down_seconds >= WORKER_DOWN_SECONDS:
        return Action.RESYNC, (
            f"the subscription's worker has not run for {seen.worker_down_seconds:.0f} s"
        )
    return Action.FOLLOWING, "following"


# ---------------------------------------------------------------------- SQL


def subscription_name(province: str) -> str:
    if not re.fullmatch(r"\d{6}", province):
        raise ValueError(f"not a province code: {province!r}")
    return f"tg_{province}"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def create_subscription_sql(province: str, conninfo: str) -> str:
    """Subscribe to the province through its leader endpoint, making the slot there and
    copying its rollup tables whole."""
    return (
        f"CREATE SUBSCRIPTION {subscription_name(province)} CONNECTION {_literal(conninfo)} "
        f"PUBLICATION {PUBLICATION} WITH (slot_name = {_literal(SLOT)}, copy_data = true)"
    )


def detach_subscription_sql(province: str) -> list[str]:
    """Drop the subscription without reaching for its slot: the slot is on a server that is
    gone (or on one whose slot is not to be trusted), and DROP SUBSCRIPTION would fail trying
    to drop it there."""
    name = subscription_name(province)
    return [
        f"ALTER SUBSCRIPTION {name} DISABLE",
        f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)",
        f"DROP SUBSCRIPTION {name}",
    ]


# On the province's leader: a slot of that name left from before (Patroni's copy, a previous
# subscription's) is dropped, its walsender ended first, so that the new subscription makes
# its own at the instant its copy starts.
DROP_STALE_SLOT_SQL = (
    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
    "WHERE slot_name = %(slot)s AND active_pid IS NOT NULL",
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
    "WHERE slot_name = %(slot)s",
)
LEADER_SQL = (
    "SELECT system_identifier::text, "
    "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, "
    "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = %(slot)s) "
    "FROM pg_control_system()"
)
# On the national database, about one subscription: does it exist, is its apply worker
# running, and has every table finished its copy ('r': ready).
SUBSCRIPTION_SQL = """
SELECT s.oid IS NOT NULL,
       EXISTS (SELECT 1 FROM pg_stat_subscription w
               WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL),
       COALESCE((SELECT bool_and(r.srsubstate = 'r') AND count(*) > 0
                 FROM pg_subscription_rel r WHERE r.srsubid = s.oid), false)
FROM (SELECT 1) one LEFT JOIN pg_subscription s ON s.subname = :name
"""


def delete_province_rows(session: Session, province: str) -> None:
    """That province's rollup rows, and only those (the province is in every key)."""
    for model in TABLES:
        session.execute(delete(model).where(model.province == province))


def begin_resync(session: Session, province: str, leader: Leader, why: str, *,
                 now: datetime) -> NationalSync:  # fmt: skip
    """On the national database, in one transaction: the province recorded as resynchronising
    from `leader` (with the as-of of the last figures it had of it, kept from a resync begun
    before), and its rollup rows deleted, the copy to bring them again."""
    state = session.get(NationalSync, province)
    last = session.scalar(select(NationalProvince.refreshed_at)
                          .where(NationalProvince.province == province))  # fmt: skip
    if state is None:
        state = NationalSync(province=province)
        session.add(state)
    if state.state != "resyncing":
        state.last_as_of = last
        state.since = now
    state.state, state.reason = "resyncing", why[:200]
    state.system_id, state.timeline = leader.system_id, leader.timeline
    delete_province_rows(session, province)
    session.flush()
    return state


def finish_resync(session: Session, province: str, *, now: datetime) -> None:
    """The copy is complete: the province's figures are one refresh of it again."""
    state = session.get(NationalSync, province)
    if state is None:
        raise LookupError(f"no resync of {province} recorded")
    state.state, state.reason, state.since = "following", "copied", now


# ---------------------------------------------------------------------- the follower


@dataclass
class Follower:
    """Follows the provinces `conninfo` names (province code → libpq connection string to
    its leader endpoint) from the national database behind `engine`."""

    engine: Engine
    conninfo: Mapping[str, str]
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    log: Callable[[str], None] = print
    _worker_down_since: dict[str, float] | None = None

    def leader(self, province: str) -> tuple[Leader | None, bool]:
        try:
            with psycopg.connect(self.conninfo[province], connect_timeout=3,
                                 autocommit=True) as c:  # fmt: skip
                row = c.execute("SELECT pg_is_in_recovery()").fetchone()
                if row is None or row[0]:
                    return None, False  # a standby: not (or not yet) the leader
                got = c.execute(LEADER_SQL, {"slot": SLOT}).fetchone()
        except psycopg.Error:
            return None, False
        assert got is not None
        return Leader(str(got[0]), int(got[1])), bool(got[2])

    def seen(self, province: str) -> Seen:
        leader, slot = self.leader(province)
        with self.engine.connect() as c:
            row = c.execute(text(SUBSCRIPTION_SQL),
                            {"name": subscription_name(province)}).one()  # fmt: skip
        with make_sessionmaker(self.engine)() as s:
            state = s.get(NationalSync, province)
            if state is not None:
                s.expunge(state)
        down = self._worker_down_since if self._worker_down_since is not None else {}
        self._worker_down_since = down
        now = time.monotonic()
        if row[1]:
            down.pop(province, None)
        else:
            down.setdefault(province, now)
        return Seen(leader=leader, slot=slot, subscription=bool(row[0]),
                    worker_down_seconds=now - down.get(province, now),
                    tables_ready=bool(row[2]), state=state)  # fmt: skip

    def step(self, province: str) -> Action:
        seen = self.seen(province)
        action, why = decide(seen)
        if action is Action.RESYNC:
            assert seen.leader is not None
            self.log(f"{province}: resynchronising: {why}")
            self.resync(province, seen.leader, why, had_subscription=seen.subscription)
        elif action is Action.DONE:
            self._finish(province)
            self.log(f"{province}: copied whole from the leader, following again")
        return action

    def resync(self, province: str, leader: Leader, why: str, *, had_subscription: bool) -> None:
        if had_subscription:
            self._autocommit(detach_subscription_sql(province))
        now = self.clock()
        run_in_transaction(make_sessionmaker(self.engine),
                           lambda s: begin_resync(s, province, leader, why, now=now))  # fmt: skip
        with psycopg.connect(self.conninfo[province], connect_timeout=5, autocommit=True) as c:
            for sql in DROP_STALE_SLOT_SQL:
                c.execute(sql, {"slot": SLOT})
        self._autocommit([create_subscription_sql(province, self.conninfo[province])])

    def _finish(self, province: str) -> None:
        now = self.clock()
        run_in_transaction(make_sessionmaker(self.engine),
                           lambda s: finish_resync(s, province, now=now))  # fmt: skip

    def _autocommit(self, statements: list[str]) -> None:
        # CREATE and DROP SUBSCRIPTION refuse to run inside a transaction block. Sent as
        # written, with no parameters: the connection string they carry may hold a colon
        # (`text()` would read `:word` as a bind) or a percent sign (the driver's placeholder).
        options = {"isolation_level": "AUTOCOMMIT", "no_parameters": True}
        with self.engine.connect().execution_options(**options) as c:
            for sql in statements:
                c.exec_driver_sql(sql)

    def run(self, *, stop: Callable[[], bool] = lambda: False,
            every: float = EVERY_SECONDS) -> None:  # fmt: skip
        last: dict[str, Action] = {}
        while not stop():
            for province in sorted(self.conninfo):
                try:
                    action = self.step(province)
                except Exception as exc:  # a failover's errors: tried again next time
                    self.log(f"{province}: {type(exc).__name__}: {str(exc).strip()[:300]}")
                    continue
                if last.get(province) != action:
                    self.log(f"{province}: {action.value}")
                    last[province] = action
            time.sleep(every)


def parse_provinces(values: list[str]) -> dict[str, str]:
    """`220000=host=… port=… dbname=…` → {"220000": "host=… port=… dbname=…"}."""
    out: dict[str, str] = {}
    for value in values:
        code, sep, conninfo = value.partition("=")
        if not sep or not conninfo.strip():
            raise ValueError(f"expected PROVINCE=CONNINFO, got {value!r}")
        subscription_name(code)
        out[code] = conninfo.strip()
    return out
