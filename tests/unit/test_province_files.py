"""The province's compose files (deploy/province/, never run here: no Docker daemon) stay the
stack that was run and measured on one machine (tools/cluster/province.py, bench/failover.py):
Patroni's failover settings, HAProxy's checks and routing, and the APIs' two database URLs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tools.cluster.province import FAILOVER, IGNORE_SLOTS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "province"
LOCAL = (Path(__file__).resolve().parents[2] / "tools" / "cluster" / "province.py").read_text()


def test_patroni_fails_over_as_the_measured_stack_did() -> None:
    dcs = yaml.safe_load((DEPLOY / "patroni.yml").read_text())["bootstrap"]["dcs"]
    assert {k: dcs[k] for k in FAILOVER} == FAILOVER
    assert dcs["synchronous_mode"] is True


def test_haproxy_checks_and_routes_as_the_measured_stack_did() -> None:
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    for text in (cfg, LOCAL):
        for needed in ("uri /{check}" if text is LOCAL else "uri /primary", "uri /readyz",
                       "balance hdr(X-Bank-Id)", "hash-type consistent",
                       "use_backend banks if { req.hdr(X-Bank-Id) -m found }",
                       "on-marked-down shutdown-sessions", "inter 1s fall 2 rise 1"):  # fmt: skip
            assert needed in text, needed
    assert re.search(r"listen primary\n(.*\n)*?  http-check send meth GET uri /primary", cfg)
    assert re.search(r"listen replica\n(.*\n)*?  http-check send meth GET uri /replica", cfg)
    assert 'pg("primary", self.write_port) + pg("replica", self.read_port)' in LOCAL


def test_the_apis_write_to_the_leader_and_read_from_a_replica() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    env = compose["services"]["api"]["environment"]
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    write = re.search(r"listen primary\n  bind :(\d+)", cfg)
    read = re.search(r"listen replica\n  bind :(\d+)", cfg)
    assert write and read
    assert env["DATABASE_URL"].endswith(f"@haproxy:{write.group(1)}/tuitionguard")
    assert env["DATABASE_READ_URL"].endswith(f"@haproxy:{read.group(1)}/tuitionguard")
    assert compose["services"]["scheduler"]["command"] == ["tuitionguard", "scheduler"]


def test_a_province_publishes_exactly_the_rollup_tables() -> None:
    """deploy/province/publication.sql (run by tools/cluster/national.py too) names every
    rollup table and nothing else; both Patroni settings keep wal_level = logical."""
    from service.national.models import TABLES
    from tools.cluster import national

    sql = national.PUBLICATION_SQL.read_text()
    body = re.sub(r"--.*", "", sql)
    listed = re.findall(r"\bnational_\w+", body)
    assert sorted(listed) == sorted(m.__tablename__ for m in TABLES)
    assert f"CREATE PUBLICATION {national.PUBLICATION} FOR TABLE" in body
    params = yaml.safe_load((DEPLOY / "patroni.yml").read_text())["bootstrap"]["dcs"]
    assert params["postgresql"]["parameters"]["wal_level"] == "logical"
    # The subscription's slot is the national follower's, not Patroni's (no permanent slot,
    # which would start afresh on a new leader), and Patroni leaves it alone on both.
    assert "slots" not in params
    assert params["ignore_slots"] == IGNORE_SLOTS
    assert '"wal_level": "logical"' in LOCAL
