"""A province's stack on this machine, from one command (`make cluster`): etcd; Patroni
managing two PostgreSQL 15 servers, one the synchronous standby of the other; HAProxy sending
writes to the leader and reads to the replica (by Patroni's REST checks, `/primary` and
`/replica`) and balancing HTTP over two API processes; and two schedulers, of which the
PostgreSQL advisory lock elects one (service/jobs/runner.py `Leader`, as today).

Everything lives in one temporary folder on ports of its own (never PostgreSQL's 5432), and
everything started is stopped and the folder removed at the end, whatever happened.

    python -m tools.cluster.province            # up, a smoke check through HAProxy, down
    python -m tools.cluster.province --hold     # up, and stays until Ctrl-C, then down

The failover benchmark (bench/failover.py) drives the same stack under load and kills its
leader. docs/scaling.md draws it and gives the compose file for a real province.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.cluster import pglocal

DATABASE = "tuitionguard"
SECRET_KEY = "province-local-secret-0123456789"  # noqa: S105 - a scratch stack's, thrown away


# How Patroni fails over: its defaults for the leader's lease (ttl 30, loop_wait 10,
# retry_timeout 10), what the failover benchmark measures; and a synchronous standby, so that
# a commit is acknowledged once the standby has it and failing over to it loses nothing
# acknowledged. deploy/province/patroni.yml has the same (tests/unit/test_province_files.py).
FAILOVER: dict[str, Any] = {
    "ttl": 30,
    "loop_wait": 10,
    "retry_timeout": 10,
    "maximum_lag_on_failover": 1048576,
    "synchronous_mode": True,
}


# Patroni drops, on the leader, any replication slot it does not know of that is not in use at
# that moment: the national database's subscription slot (`tg_national`, made by
# `tuitionguard national-follow` on whichever member leads) and the slots its table copies
# make while they run are PostgreSQL's logical slots of pgoutput, which Patroni is told to
# leave alone. Not Patroni's permanent `slots:`: in PostgreSQL 15 a logical slot does not
# follow a failover, and one Patroni made afresh on the new leader would start at its present
# (service/national/follow.py). deploy/province/patroni.yml has the same.
IGNORE_SLOTS: list[dict[str, str]] = [
    {"type": "logical", "plugin": "pgoutput", "database": DATABASE},
]


def missing() -> list[str]:
    """What this machine lacks to run the stack (Debian's packages: `make cluster-deps`)."""
    need = {"etcd": "etcd-server", "patroni": "patroni", "haproxy": "haproxy"}
    out = [pkg for cmd, pkg in need.items() if shutil.which(cmd) is None]
    if pglocal.available() is not None:
        out.append("postgresql-15")
    return out


@dataclass
class Node:
    name: str
    pg_port: int
    rest_port: int
    data: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Province:
    root: Path
    nodes: list[Node] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    etcd_port: int = 0
    write_port: int = 0
    read_port: int = 0
    http_port: int = 0
    stats_port: int = 0
    api_ports: list[int] = field(default_factory=list)

    # ------------------------------------------------------------------ addresses
    def db_url(self, port: int | None = None) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{port or self.write_port}/{DATABASE}"

    @property
    def write_url(self) -> str:
        return self.db_url(self.write_port)

    @property
    def read_url(self) -> str:
        return self.db_url(self.read_port)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.write_url,
            "DATABASE_READ_URL": self.read_url,
            "ENVIRONMENT": "test",
            "SECRET_KEY": SECRET_KEY,
            "LOG_SIGNING_KEY": "5c" * 32,  # a scratch stack's Ed25519 seed, thrown away
            "LOG_LEVEL": "WARNING",
            "DATABASE_POOL_SIZE": "20",
            "REQUEST_THREADS": "20",
            "TRUSTED_PROXIES": "127.0.0.1",
            **extra,
        }

    def log(self, name: str) -> Any:
        return (self.root / f"{name}.log").open("ab")

    # ------------------------------------------------------------------ up
    def start(self, *, apis: int = 2, api_env: dict[str, str] | None = None) -> None:
        wanted: set[int] = set()
        while len(wanted) < 10 + apis:  # distinct, though each is free only when asked
            wanted.add(pglocal.free_port())
        ports = iter(wanted)
        self.etcd_port, etcd_peer = next(ports), next(ports)
        self.write_port, self.read_port = next(ports), next(ports)
        self.http_port, self.stats_port = next(ports), next(ports)
        self.nodes = [Node(f"pg{i}", next(ports), next(ports), self.root / f"pg{i}")
                      for i in (1, 2)]  # fmt: skip
        self.api_ports = [next(ports) for _ in range(apis)]
        self._etcd(etcd_peer)
        for node in self.nodes:
            self._patroni(node)
            # One at a time: the first bootstraps the cluster, the second clones it.
            pglocal.wait_until(lambda n=node: self.member(n) is not None, 120, f"{node.name} up")
        pglocal.wait_until(lambda: self.roles().count("sync_standby") == 1, 120,
                           "a synchronous standby")  # fmt: skip
        self._haproxy()
        # HAProxy counts a server up until its first checks say otherwise: writes go to the
        # leader once a run of connections all reach it.
        pglocal.wait_until(lambda: all(self._writable() for _ in range(5)), 60,
                           "writes through HAProxy")  # fmt: skip
        pglocal.wait_until(self._create_database, 60, "the database created")
        env = self.env(**(api_env or {}))
        done = subprocess.run([sys.executable, "-m", "service.cli", "migrate"], env=env,
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"migrate failed: {done.stderr[-2000:]}")
        for port in self.api_ports:
            self.apis.append(self._api(port, env))
        for port in self.api_ports:
            pglocal.wait_until(lambda p=port: _get(f"http://127.0.0.1:{p}/readyz")[0] == 200,
                               120, f"API on {port}")  # fmt: skip
        for i in range(2):  # the advisory lock elects one of them
            argv = [sys.executable, "-m", "service.cli", "scheduler"]
            self.schedulers.append(self._spawn(argv, env, f"scheduler{i}"))

    def _spawn(self, argv: list[str], env: dict[str, str] | None, name: str,
               as_server: bool = False) -> subprocess.Popen[bytes]:  # fmt: skip
        argv = pglocal.as_server_user(argv) if as_server else argv
        proc = subprocess.Popen(
            argv, env=env, stdout=self.log(name), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def _etcd(self, peer: int) -> None:
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer}"
        self._spawn(["etcd", "--name", "tg", "--data-dir", str(self.root / "etcd"),
                     "--listen-client-urls", client, "--advertise-client-urls", client,
                     "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                     "--initial-cluster", f"tg={peer_url}", "--initial-cluster-state", "new",
                     "--logger", "zap", "--log-outputs", "stderr"], None, "etcd")  # fmt: skip
        pglocal.wait_until(lambda: _get(f"{client}/health")[0] == 200, 60, "etcd")

    def _patroni(self, node: Node) -> None:
        config = {
            "scope": "tg-province",
            "name": node.name,
            "restapi": {
                "listen": f"127.0.0.1:{node.rest_port}",
                "connect_address": f"127.0.0.1:{node.rest_port}",
            },
            "etcd3": {"hosts": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": {
                    **FAILOVER,
                    "ignore_slots": IGNORE_SLOTS,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "max_connections": 200,
                            "wal_log_hints": "on",
                            "max_wal_senders": 5,
                            "max_replication_slots": 5,
                            "hot_standby": "on",
                            "wal_keep_size": "512MB",
                            "wal_level": "logical",  # a province publishes its rollups
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, {"auth": "trust"}],
                "pg_hba": [
                    "local all all trust",
                    "host all all 127.0.0.1/32 trust",
                    "host replication all 127.0.0.1/32 trust",
                ],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data),
                "bin_dir": str(pglocal.BIN),
                "pgpass": str(self.root / f"{node.name}.pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "postgres"},
                    "replication": {"username": "replicator", "password": "replicator"},
                    "rewind": {"username": "postgres", "password": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(self.root)},
            },
        }
        path = self.root / f"{node.name}.yml"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        pglocal.hand_over(self.root)
        node.proc = self._spawn(["patroni", str(path)], None, f"patroni-{node.name}",
                                as_server=True)  # fmt: skip

    def _haproxy(self) -> None:
        def pg(check: str, port: int) -> str:
            servers = "\n".join(
                f"  server {n.name} 127.0.0.1:{n.pg_port} maxconn 200 check port {n.rest_port}"
                for n in self.nodes)  # fmt: skip
            return (f"listen {check}\n  bind 127.0.0.1:{port}\n  option httpchk\n"
                    f"  http-check send meth GET uri /{check}\n  http-check expect status 200\n"
                    "  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions\n"
                    f"{servers}\n")  # fmt: skip

        apis = "\n".join(f"  server api{i} 127.0.0.1:{p} check inter 1s fall 2 rise 1"
                         for i, p in enumerate(self.api_ports, 1))  # fmt: skip
        backend = ("  mode http\n  timeout server 60s\n  option httpchk\n"
                   "  http-check send meth GET uri /readyz\n  http-check expect status 200\n"
                   f"  option forwardfor\n{apis}\n")  # fmt: skip
        # A bank's requests go to one API process (by its X-Bank-Id, hashed consistently):
        # its rate limit (RATE_LIMITS bank=20/200, a bucket per process) is then its whole
        # budget, not one per process. The others are spread round-robin; their limits are
        # per process (docs/scaling.md, "What each process keeps").
        cfg = (
            "global\n  maxconn 2000\n"
            "defaults\n  mode tcp\n  timeout connect 3s\n  timeout client 30m\n"
            "  timeout server 30m\n  timeout check 2s\n"
            + pg("primary", self.write_port) + pg("replica", self.read_port)
            + f"frontend api\n  bind 127.0.0.1:{self.http_port}\n  mode http\n"
            "  timeout client 60s\n  use_backend banks if { req.hdr(X-Bank-Id) -m found }\n"
            "  default_backend apis\n"
            f"backend apis\n  balance roundrobin\n{backend}"
            f"backend banks\n  balance hdr(X-Bank-Id)\n  hash-type consistent\n{backend}"
            f"listen stats\n  bind 127.0.0.1:{self.stats_port}\n  mode http\n  stats enable\n"
            "  stats uri /\n  timeout client 10s\n  timeout server 10s\n"
        )  # fmt: skip
        path = self.root / "haproxy.cfg"
        path.write_text(cfg)
        self._spawn(["haproxy", "-f", str(path), "-db"], None, "haproxy")

    def _writable(self) -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.write_port} user=postgres "
                             "dbname=postgres connect_timeout=2") as c:  # fmt: skip
            row = c.execute("SELECT pg_is_in_recovery()").fetchone()
            return row is not None and row[0] is False

    def _create_database(self) -> bool:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.write_port} user=postgres "
                             "dbname=postgres", autocommit=True) as c:  # fmt: skip
            c.execute(f"CREATE DATABASE {DATABASE}")
        return True

    def _api(self, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return self._spawn([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                            "--no-scheduler"], env, f"api-{port}")  # fmt: skip

    # ------------------------------------------------------------------ state
    def cluster(self) -> list[dict[str, Any]]:
        """Patroni's view: each member's name, role, state and lag, from any live member."""
        for node in self.nodes:
            status, body = _get(f"{node.rest}/cluster")
            if status == 200:
                members: list[dict[str, Any]] = json.loads(body)["members"]
                return members
        return []

    def member(self, node: Node) -> str | None:
        for m in self.cluster():
            if m["name"] == node.name and m.get("state") in ("running", "streaming"):
                return str(m["role"])
        return None

    def roles(self) -> list[str]:
        return [
            str(m["role"]) for m in self.cluster() if m.get("state") in ("running", "streaming")
        ]

    def leader(self) -> Node | None:
        names = [m["name"] for m in self.cluster() if m["role"] == "leader"]
        return next((n for n in self.nodes if n.name in names), None)

    # ------------------------------------------------------------------ faults
    def kill_node(self, node: Node) -> None:
        """The server is lost: its Patroni and its PostgreSQL (the postmaster and every child
        of it) SIGKILLed at once, nothing shut down cleanly."""
        if node.proc is not None:  # runuser and the Patroni under it: a session of their own
            try:
                os.killpg(node.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        pids = []
        postmaster = node.postmaster_pid()
        if postmaster is not None:
            pids += [postmaster, *_children(postmaster)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # ------------------------------------------------------------------ down
    def stop(self) -> None:
        # Schedulers, APIs, HAProxy, Patroni, etcd: each started in a session of its own, and
        # the whole group is ended even when its leader is gone (a Patroni whose runuser was
        # killed lives on in the group).
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                proc.wait(30)
                deadline = time.monotonic() + 30
                while _group_alive(proc.pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        for node in self.nodes:  # a PostgreSQL its Patroni left behind
            pid = node.postmaster_pid()
            if pid is not None and _alive(pid):
                pglocal.Server(node.data, node.pg_port).stop("immediate")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return int(r.status), r.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except (OSError, ValueError):
        return 0, ""


class running:
    """A province up for the block, down (and its folder removed) after it."""

    def __init__(self, **start: Any) -> None:
        self.start = start
        self.province: Province | None = None

    def __enter__(self) -> Province:
        root = Path(tempfile.mkdtemp(prefix="tg-province-"))
        self.province = Province(root)
        try:
            self.province.start(**self.start)
        except BaseException:
            self._down()
            raise
        return self.province

    def _down(self) -> None:
        assert self.province is not None
        self.province.stop()
        if os.environ.get("TG_KEEP_CLUSTER_LOGS"):
            print(f"logs kept in {self.province.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.province.root, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self._down()


def smoke(p: Province) -> dict[str, Any]:
    """Through HAProxy: the two APIs answer, a regulator made with the CLI reads its region,
    and /readyz reports the replica in use."""
    env = p.env()
    token = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "service.cli",
                "regulator",
                "create",
                "--name",
                "Smoke",
                "--region",
                "220000",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    answered = set()
    for _ in range(6):
        req = urllib.request.Request(f"{p.base}/api/v1/institutions",
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        answered.add(r.headers.get("server", "") or "api")
    ready = {}
    for port in p.api_ports:
        pglocal.wait_until(lambda port=port: json.loads(_get(
            f"http://127.0.0.1:{port}/readyz")[1])["read_replica"]["used"], 30,
            "the replica in use")  # fmt: skip
        ready[port] = json.loads(_get(f"http://127.0.0.1:{port}/readyz")[1])["read_replica"]
    return {
        "members": [(m["name"], m["role"], m.get("lag")) for m in p.cluster()],
        "read_replica": ready,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hold", action="store_true", help="stay up until Ctrl-C")
    args = parser.parse_args()
    lacking = missing()
    if lacking:
        print(f"missing: {', '.join(lacking)} (as root: make cluster-deps)", file=sys.stderr)
        return 2
    began = time.monotonic()
    with running() as p:
        print(f"province up in {time.monotonic() - began:.1f} s (folder {p.root})")
        print(f"  API (HAProxy, {len(p.api_ports)} processes): {p.base}")
        print(f"  writes (leader): {p.write_url}")
        print(f"  reads (replica): {p.read_url}")
        print(f"  HAProxy stats: http://127.0.0.1:{p.stats_port}/")
        print(f"  etcd: http://127.0.0.1:{p.etcd_port}")
        out = smoke(p)
        print("  members: " + ", ".join(f"{n} {r} (lag {lag})" for n, r, lag in out["members"]))
        for port, r in out["read_replica"].items():
            print(f"  API {port} /readyz read_replica: {json.dumps(r)}")
        if args.hold:
            print("up: Ctrl-C stops it and removes everything")
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
    print("province down: every process stopped, the folder removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
