"""The national database following a province's failover (service.national.follow), what runs
without clusters: the decisions from what the follower saw, and the SQL it sends. The run
against a province on Patroni is bench/national_failover.py (`make bench-national-failover`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.national.follow import (
    DROP_STALE_SLOT_SQL,
    SLOT,
    WORKER_DOWN_SECONDS,
    Action,
    Leader,
    Seen,
    create_subscription_sql,
    decide,
    detach_subscription_sql,
    parse_provinces,
    subscription_name,
)
from service.national.models import NationalSync

OLD = Leader("7450123456789012345", 1)
NEW = Leader("7450123456789012345", 2)  # the promoted standby: same system, next timeline


def _state(leader: Leader = OLD, state: str = "following") -> NationalSync:
    return NationalSync(province="220000", state=state, since=datetime.now(UTC), reason="",
                        system_id=leader.system_id, timeline=leader.timeline)  # fmt: skip


def _seen(**over: object) -> Seen:
    values: dict[str, object] = {"leader": OLD, "slot": True, "subscription": True,
                                 "worker_down_seconds": 0.0, "tables_ready": True,
                                 "state": _state()}  # fmt: skip
    return Seen(**(values | over))  # type: ignore[arg-type]


def test_all_well_is_following() -> None:
    assert decide(_seen())[0] is Action.FOLLOWING


def test_a_leader_that_does_not_answer_is_waited_for_never_resynced() -> None:
    """During the failover the endpoint answers nothing, or a standby: nothing is dropped."""
    assert decide(_seen(leader=None, slot=False))[0] is Action.WAIT
    assert decide(_seen(leader=None, subscription=False, state=None))[0] is Action.WAIT


def test_a_new_timeline_is_resynced_even_with_a_slot_there() -> None:
    """A slot of the same name on the promoted standby (Patroni's copy, or one made afresh) is
    not the subscription's: what happened between the two would be lost without a word."""
    action, why = decide(_seen(leader=NEW, slot=True))
    assert action is Action.RESYNC
    assert "timeline 1 to 2" in why


def test_another_server_is_resynced() -> None:
    assert decide(_seen(leader=Leader("7450999999999999999", 1)))[0] is Action.RESYNC


def test_a_missing_slot_or_subscription_is_resynced() -> None:
    assert decide(_seen(slot=False))[0] is Action.RESYNC
    assert decide(_seen(subscription=False))[0] is Action.RESYNC
    assert decide(_seen(subscription=False, state=None))[0] is Action.RESYNC  # the first time
    # one made by hand (make national does): on which leader it was made is not known
    assert decide(_seen(state=None)) == (Action.RESYNC, "a subscription this follower did not make")


def test_a_worker_down_briefly_is_left_to_restart_and_for_long_is_resynced() -> None:
    assert decide(_seen(worker_down_seconds=WORKER_DOWN_SECONDS - 1))[0] is Action.FOLLOWING
    assert decide(_seen(worker_down_seconds=WORKER_DOWN_SECONDS))[0] is Action.RESYNC


def test_a_resync_is_done_when_every_table_is_copied() -> None:
    copying = _state(NEW, state="resyncing")
    assert decide(_seen(leader=NEW, state=copying, tables_ready=False))[0] is Action.COPYING
    assert decide(_seen(leader=NEW, state=copying, tables_ready=True))[0] is Action.DONE
    # a second failover during the copy: begun again on the newest leader
    newer = Leader(NEW.system_id, 3)
    assert decide(_seen(leader=newer, state=copying, tables_ready=False))[0] is Action.RESYNC


def test_the_subscription_is_made_on_the_leader_endpoint_with_a_full_copy() -> None:
    sql = create_subscription_sql("220000", "host=haproxy port=5000 dbname=tuitionguard")
    assert sql == (
        "CREATE SUBSCRIPTION tg_220000 CONNECTION 'host=haproxy port=5000 dbname=tuitionguard' "
        "PUBLICATION tg_national WITH (slot_name = 'tg_national', copy_data = true)"
    )
    quoted = create_subscription_sql("220000", "host=h password='it''s'")
    assert "CONNECTION 'host=h password=''it''''s'''" in quoted


def test_the_old_subscription_is_dropped_without_reaching_for_its_slot() -> None:
    assert detach_subscription_sql("210000") == [
        "ALTER SUBSCRIPTION tg_210000 DISABLE",
        "ALTER SUBSCRIPTION tg_210000 SET (slot_name = NONE)",
        "DROP SUBSCRIPTION tg_210000",
    ]


def test_only_the_named_slot_is_dropped_on_the_leader() -> None:
    for sql in DROP_STALE_SLOT_SQL:
        assert "WHERE slot_name = %(slot)s" in sql
    assert SLOT == "tg_national"


@pytest.mark.parametrize("bad", ["22000", "220000; DROP TABLE x", "abcdef", ""])
def test_only_province_codes_make_names(bad: str) -> None:
    with pytest.raises(ValueError):
        subscription_name(bad)


def test_provinces_are_parsed_from_the_command_line() -> None:
    got = parse_provinces(["220000=host=a port=5000 dbname=t", "210000= host=b "])
    assert got == {"220000": "host=a port=5000 dbname=t", "210000": "host=b"}
    with pytest.raises(ValueError):
        parse_provinces(["220000"])
