"""`tuitionguard up`, what `make run` runs: the demo in one command, safe to run twice.

It looks at its ports first. A TuitionGuard already serving there is said so and left alone
(exit 0: the first `make run` is still up); another program on the port is named as the
problem (exit 1) before anything is written. Then it migrates, seeds the demo region (the
credentials printed last time are printed again, not re-issued), starts the bank simulator
unless one of ours already answers (its books in `bank-sim.json`), and serves. Stopping it
(Ctrl-C, SIGTERM) stops the simulator it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from typing import Literal

import httpx

Port = Literal["free", "ours", "taken"]
# The simulated bank's books, next to the demo's database: the seed opens the demo's accounts
# there at the balances its history left, and the simulator keeps them across restarts.
BANK_STATE = "bank-sim.json"


def probe(host: str, port: int, path: str) -> Port:
    """Free, one of ours (it answers `path` with JSON), or taken by something else."""
    try:
        with socket.create_connection((host, port), timeout=1):
            pass
    except OSError:
        return "free"
    try:
        r = httpx.get(f"http://{host}:{port}{path}", timeout=3)
        r.json()
    except (httpx.HTTPError, ValueError):
        return "taken"
    return "ours" if r.status_code == 200 else "taken"


def up(*, host: str, port: int, bank_port: int, tuitionguard: str) -> int:
    service = probe(host, port, "/healthz")
    if service == "ours":
        print(f"TuitionGuard is already serving on http://{host}:{port} (an earlier `make "
              "run`): nothing to do; stop that one first to restart.", file=sys.stderr)  # fmt: skip
        return 0
    if service == "taken":
        print(f"port {port} on {host} is taken by another program: stop it, or run "
              f"`make run PORT=<another>`", file=sys.stderr)  # fmt: skip
        return 1
    bank = probe("127.0.0.1", bank_port, "/sim/instructions")
    if bank == "taken":
        print(f"port {bank_port} is taken by a program that is not the bank simulator: stop "
              f"it, or run `make run BANK_PORT=<another>`", file=sys.stderr)  # fmt: skip
        return 1
    # Our own console script, with arguments we built: no shell, nothing from outside.
    seeded = subprocess.run(seed_argv(tuitionguard, host, port, bank_port), check=False)  # noqa: S603
    if seeded.returncode:
        return seeded.returncode
    return _serve_with_bank(host, port, bank_port, tuitionguard, start_bank=bank == "free")


def seed_argv(tuitionguard: str, host: str, port: int, bank_port: int) -> list[str]:
    """The demo's seed, its bank reached on `bank_port`, its books opened in BANK_STATE."""
    return [tuitionguard, "demo", "seed", "--base-url", f"http://{host}:{port}",
            "--bank-state", BANK_STATE,
            "--bank-url", f"http://127.0.0.1:{bank_port}/instructions"]  # fmt: skip


def bank_argv(tuitionguard: str, host: str, port: int, bank_port: int) -> list[str]:
    """The demo's bank simulator, keeping its books in BANK_STATE, calling the service back."""
    return [tuitionguard, "bank-sim", "--port", str(bank_port), "--state", BANK_STATE,
            "--service-url", f"http://{host}:{port}"]  # fmt: skip


def _serve_with_bank(
    host: str, port: int, bank_port: int, tuitionguard: str, *, start_bank: bool
) -> int:
    sim = None
    if start_bank:
        log = open("bank-sim.log", "ab")  # open for the simulator's lifetime
        sim = subprocess.Popen(  # noqa: S603
            bank_argv(tuitionguard, host, port, bank_port), stdout=log, stderr=subprocess.STDOUT
        )
        print(f"bank simulator on http://127.0.0.1:{bank_port} (log: bank-sim.log)",
              file=sys.stderr)  # fmt: skip
    serve = [tuitionguard, "serve", "--host", host, "--port", str(port)]
    # The demo's links and QR codes point where it is served, unless told otherwise.
    public = os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{port}"
    server = subprocess.Popen(serve, env={**os.environ, "PUBLIC_BASE_URL": public})  # noqa: S603

    def stop(_signum: int, _frame: object) -> None:
        # SIGTERM whatever stopped us: a Ctrl-C reached the server already (the terminal
        # signals the whole group), and a second SIGINT would make uvicorn cut its
        # connections short instead of finishing them.
        server.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    finally:
        if sim is not None:
            sim.terminate()
            try:
                sim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sim.kill()
