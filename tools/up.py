"""`tuitionguard up`, what `make run` runs: the demo in one command, safe to run twice.

It looks at its ports first. A TuitionGuard already serving there is said so and left alone
(exit 0: the first `make run` is still up); another program on the port is named as the
problem (exit 1) before anything is written. Then it migrates, seeds the demo region (the
credentials printed last time are printed again, not re-issued), starts the bank simulator
unless one of ours already answers (its books in `bank-sim.json`), starts the public log's two
witnesses (a "bank" and a "province" one, each with its own key and SQLite file, made on the
first run and kept), serves, and once the service answers publishes the day before's
liability proofs and ledger anchor (the `proof_publish` job, which the scheduler then runs
every morning; a day already published is left as it is). Stopping it (Ctrl-C, SIGTERM)
stops the simulator and the witnesses it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Literal

import httpx

Port = Literal["free", "ours", "taken"]
# The simulated bank's books, next to the demo's database: the seed opens the demo's accounts
# there at the balances its history left, and the simulator keeps them across restarts.
BANK_STATE = "bank-sim.json"


@dataclass(frozen=True)
class DemoWitness:
    """One of the demo's witnesses: in a deployment the custody bank and the province's
    bureau each run theirs, with keys the log never sees."""

    role: str  # bank | province
    offset: int  # its port: the bank simulator's + this

    @property
    def name(self) -> str:
        return f"{self.role}.localhost/witness"

    @property
    def key_file(self) -> str:
        return f"witness-{self.role}.key"

    @property
    def db_file(self) -> str:
        return f"witness-{self.role}.sqlite"


WITNESSES = (DemoWitness("bank", 101), DemoWitness("province", 102))


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


def witness_vkey(w: DemoWitness) -> str:
    """The witness's vkey, its key made on the first run (never overwritten)."""
    from tgproof import note
    from tgproof.serve import read_key, write_key
    from tgproof.witness import public_vkey

    key = read_key(w.key_file) if os.path.exists(w.key_file) else write_key(w.key_file)
    return public_vkey(w.name, key, note.COSIGNATURE_KEY_TYPE)


def start_witnesses(tuitionguard: str, bank_port: int) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """The two witnesses, following this service's log (its vkey from the settings); what
    LOG_WITNESSES names them by. A port already answering is taken to be an earlier run's."""
    from service.config import get_settings
    from service.proofs.keys import log_verifier

    log_vkey = log_verifier(get_settings()).vkey()
    listed, started = [], []
    for w in WITNESSES:
        port = bank_port + w.offset
        listed.append(f"{witness_vkey(w)}@http://127.0.0.1:{port}")
        if probe("127.0.0.1", port, "/") != "free":
            print(f"port {port} is busy: taken to be the {w.role} witness of an earlier run",
                  file=sys.stderr)  # fmt: skip
            continue
        log = open(f"witness-{w.role}.log", "ab")  # open for the witness's lifetime
        started.append(subprocess.Popen(  # noqa: S603 - our own console script
            [tuitionguard, "witness", "serve", "--name", w.name, "--key", w.key_file,
             "--log", log_vkey, "--db", w.db_file, "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT))  # fmt: skip
        print(f"{w.role} witness on http://127.0.0.1:{port} (log: witness-{w.role}.log)",
              file=sys.stderr)  # fmt: skip
    return ",".join(listed), started


def publish_when_up(tuitionguard: str, host: str, port: int, env: dict[str, str]) -> None:
    """The day before's proofs, once the service answers (so the parent's page has one)."""
    for _ in range(120):
        if probe(host, port, "/healthz") == "ours":
            break
        time.sleep(0.5)
    subprocess.run([tuitionguard, "job", "run", "proof_publish"], env=env, check=False,  # noqa: S603
                   stdout=subprocess.DEVNULL)  # fmt: skip


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
    listed, witnesses = start_witnesses(tuitionguard, bank_port)
    serve = [tuitionguard, "serve", "--host", host, "--port", str(port)]
    # The demo's links and QR codes point where it is served, unless told otherwise.
    public = os.environ.get("PUBLIC_BASE_URL") or f"http://{host}:{port}"
    env = {**os.environ, "PUBLIC_BASE_URL": public,
           "LOG_WITNESSES": os.environ.get("LOG_WITNESSES") or listed}  # fmt: skip
    server = subprocess.Popen(serve, env=env)  # noqa: S603

    def stop(_signum: int, _frame: object) -> None:
        # SIGTERM whatever stopped us: a Ctrl-C reached the server already (the terminal
        # signals the whole group), and a second SIGINT would make uvicorn cut its
        # connections short instead of finishing them.
        server.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    publish_when_up(tuitionguard, host, port, env)
    try:
        return server.wait()
    finally:
        for child in [*([sim] if sim is not None else []), *witnesses]:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
