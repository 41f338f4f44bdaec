"""The national compose file (deploy/national/compose.yml, never run here: no Docker daemon)
stays the setup that was run on one machine (bench/national_failover.py, tools/cluster/):
the follower's command and its provinces' leader endpoints, the publication each province
makes, and the PostgreSQL it runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from service.cli import parser_and_commands
from service.national import follow
from tools.cluster import national, province

ROOT = Path(__file__).resolve().parents[2]
NATIONAL = yaml.safe_load((ROOT / "deploy" / "national" / "compose.yml").read_text())
PROVINCE = yaml.safe_load((ROOT / "deploy" / "province" / "compose.yml").read_text())
HAPROXY = (ROOT / "deploy" / "province" / "haproxy.cfg").read_text()
BENCH = (ROOT / "bench" / "national_failover.py").read_text()


def _provinces(command: list[str]) -> dict[str, str]:
    values = [command[i + 1] for i, arg in enumerate(command) if arg == "--province"]
    return dict(v.split("=", 1) for v in values)


def test_the_follower_runs_the_command_the_bench_ran() -> None:
    command = NATIONAL["services"]["national-follow"]["command"]
    assert command[:2] == ["tuitionguard", "national-follow"]
    args = parser_and_commands()[0].parse_args(command[1:])  # the CLI accepts it as written
    assert args.fn.__name__ == "cmd_national_follow"
    assert '"national-follow", "--every", "1"' in BENCH
    provinces = _provinces(command)
    assert sorted(provinces) == sorted(national.PROVINCES)  # those `make national` runs
    for code, conninfo in provinces.items():
        follow.subscription_name(code)
        assert conninfo == f"${{PROVINCE_{code}:?set PROVINCE_{code}}}"


def test_the_provinces_are_reached_at_their_leader_endpoint() -> None:
    """The follower and the subscription reach a province through HAProxy's write port
    (Patroni's `/primary` check), in the bench as in the files, and the database there."""
    write = re.search(r"listen primary\n  bind :(\d+)", HAPROXY)
    assert write is not None
    comment = (ROOT / "deploy" / "national" / "compose.yml").read_text()
    assert f"port={write.group(1)} user=postgres" in comment
    assert f"dbname={province.DATABASE}" in comment
    assert "port={p.write_port} user=postgres" in BENCH
    assert PROVINCE["services"]["publish"]["environment"]["PGPORT"] == write.group(1)
    assert PROVINCE["services"]["publish"]["environment"]["PGDATABASE"] == province.DATABASE


def test_each_province_publishes_what_the_follower_subscribes_to() -> None:
    publish = PROVINCE["services"]["publish"]
    assert "./publication.sql:/publication.sql:ro" in publish["volumes"]
    assert f"pubname = '{follow.PUBLICATION}'" in publish["command"][2]
    assert follow.PUBLICATION == national.PUBLICATION
    sql = national.PUBLICATION_SQL.read_text()
    assert f"CREATE PUBLICATION {follow.PUBLICATION} FOR TABLE" in sql


def test_the_national_database_is_postgresql_15_with_room_for_the_provinces() -> None:
    db = NATIONAL["services"]["national-db"]
    assert db["image"] == "postgres:15"
    settings = dict(re.findall(r"(\w+)=(\d+)", " ".join(db["command"])))
    provinces = len(_provinces(NATIONAL["services"]["national-follow"]["command"]))
    assert int(settings["max_logical_replication_workers"]) >= 31 + 2 * provinces
    assert int(settings["max_worker_processes"]) > int(settings["max_logical_replication_workers"])
    env = NATIONAL["services"]["national-api"]["environment"]
    assert env["DATABASE_URL"].endswith("@national-db:5432/tuitionguard")
    assert NATIONAL["services"]["national-follow"]["environment"] == env
    assert "--no-scheduler" in NATIONAL["services"]["national-api"]["command"]
