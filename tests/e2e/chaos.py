"""The parts of a chaos soak (the reliability issue): a PostgreSQL cluster of the soak's own
(restarted without touching the machine's), a TCP proxy between the service and it that can
cut a connection right after a COMMIT is sent (so the service never learns whether it
committed), and the service as a process that can be killed with SIGKILL and started again.
`soak.py` drives them; `bench/soak.py` and `tests/e2e/test_soak.py` run it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

BIN = Path(max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """A throwaway cluster: initdb in a temporary folder (as the postgres user when run as
    root, as initdb demands), fsync on, trust on 127.0.0.1."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tg-soak-pg-"))
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(BIN / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *extra: str) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w",
                  action, *extra)  # fmt: skip

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._ctl("start", "-o", opts)

    def restart(self) -> None:
        """As a DBA or a crash would: every connection dropped, the cluster back after."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def url(self, port: int | None = None, database: str = "postgres") -> str:
        return (f"postgresql+psycopg://postgres@127.0.0.1:{port or self.port}/{database}"
                "?sslmode=disable")  # fmt: skip

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class CommitCutProxy:
    """Forwards 127.0.0.1:port to PostgreSQL. Armed, it forwards the next COMMIT a client
    sends and then closes that connection both ways before the answer comes back: the commit
    happened (or not), and the client cannot know which."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.armed = 0
        self.cuts = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def cut_after_next_commit(self, times: int = 1) -> None:
        self.armed += times

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port)
        )
        self.ready.set()
        try:
            self.loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            writer.close()
            return
        back = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            await self._forward(reader, up_writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # a side hung up: the other is closed below
        finally:
            back.cancel()
            for w in (writer, up_writer):
                w.close()

    async def _forward(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        """Client to server, message by message after the startup packet."""
        size = struct.unpack("!I", await reader.readexactly(4))[0]
        up.write(struct.pack("!I", size) + await reader.readexactly(size - 4))
        while True:
            kind = await reader.readexactly(1)
            size = struct.unpack("!I", await reader.readexactly(4))[0]
            payload = await reader.readexactly(size - 4)
            up.write(kind + struct.pack("!I", size) + payload)
            await up.drain()
            if kind == b"Q" and payload.upper().startswith(b"COMMIT") and self.armed > 0:
                self.armed -= 1
                self.cuts += 1
                await asyncio.sleep(0.05)  # the server has it; the answer never comes back
                return

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Service:
    """`tuitionguard serve` as a process, killed and started again at will."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port),
             "--no-scheduler"], env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("the service did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, whatever was in flight is cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
