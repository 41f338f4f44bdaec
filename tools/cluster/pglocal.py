"""Scratch PostgreSQL 15 servers on this machine, on their own ports and data directories under
a temporary folder: a primary by initdb and a streaming replica of it by pg_basebackup. For
the read-replica integration test and the cluster tools; never the server on 5432.

PostgreSQL refuses to run as root: as root, every command runs as the `postgres` user (and
the folder is handed to it); as anyone else, as that user."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> str | None:
    """Why scratch servers cannot run here, or None if they can."""
    if not (BIN / "initdb").exists() or not (BIN / "pg_basebackup").exists():
        return f"no PostgreSQL 15 binaries in {BIN}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to become postgres"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user"
    return None


def as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def hand_over(path: Path) -> None:
    """Let the server's user own `path` (as root: PostgreSQL will not run as root)."""
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", str(path)], check=True)
        for parent in [path, *path.parents]:
            if str(parent) in ("/", "/tmp"):  # noqa: S108 - stop there, never chmod those
                break
            parent.chmod(parent.stat().st_mode | 0o711)  # traversable by postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str]) -> None:
    done = subprocess.run(as_server_user(argv), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")


@dataclass
class Server:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        _run([str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
              "-w", "-t", "60", "-o", f"-p {self.port} -k {self.data}", "start"])  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            argv = [str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]
            subprocess.run(as_server_user(argv), capture_output=True)


def primary(
    root: Path, port: int | None = None, *, name: str = "primary", wal_level: str = "replica"
) -> Server:
    """A new primary, trusting local connections (a scratch server), with room for a
    replica's WAL sender; `wal_level="logical"` for a publisher of logical replication."""
    root.mkdir(parents=True, exist_ok=True)
    hand_over(root)
    server = Server(root / name, port or free_port())
    _run([str(BIN / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres",
          "--no-sync", "-E", "UTF8", "--locale", "C"])  # fmt: skip
    with (server.data / "postgresql.conf").open("a") as conf:
        conf.write(f"listen_addresses = '127.0.0.1'\nfsync = off\nwal_level = {wal_level}\n"
                   "max_wal_senders = 5\nwal_keep_size = '256MB'\n")  # fmt: skip
    server.start()
    return server


def replica(of: Server, root: Path, port: int | None = None) -> Server:
    """A streaming replica of `of` (pg_basebackup -R: it follows `of` from where the backup
    ends), started."""
    server = Server(root / "replica", port or free_port())
    _run([str(BIN / "pg_basebackup"), "-D", str(server.data), "-h", "127.0.0.1",
          "-p", str(of.port), "-U", "postgres", "-R", "-X", "stream", "--no-sync"])  # fmt: skip
    server.start()
    return server


def wait_until(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # noqa: S110 - not yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not within {seconds} s")
