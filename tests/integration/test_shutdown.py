"""Ctrl-C (or SIGTERM) stops the service and the bank simulator quietly: exit 0, no traceback,
nothing logged at error level. uvicorn raised the signal again after its graceful shutdown,
asyncio turned it into a KeyboardInterrupt in the middle of its teardown, and `make run`'s
Ctrl-C ended with an error-level traceback of a cancelled lifespan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, wait_until

TUITIONGUARD = os.path.join(os.path.dirname(sys.executable), "tuitionguard")


def _as_from_a_terminal() -> None:
    """A terminal's child takes Ctrl-C the default way (a test runner may ignore it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/tg.db",
            "ENVIRONMENT": "development", "LOG_LEVEL": "INFO"}  # fmt: skip


def _stopped(
    argv: list[str],
    ready: str,
    tmp_path: Path,
    *signals: int,
    group: bool = False,
    after: float = 0.0,
) -> tuple[int, str]:
    """Start `argv`, wait until `ready` answers, send the signals (to its whole process group,
    as a terminal does, if `group`); its exit code and everything it wrote."""
    log = tmp_path / "out.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=_env(tmp_path), cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=_as_from_a_terminal,
                                start_new_session=group)  # fmt: skip
        try:
            wait_until(lambda: httpx.get(ready, timeout=2).status_code == 200, 90, ready)
            time.sleep(after)
            for signum in signals:
                if group:
                    os.killpg(proc.pid, signum)
                else:
                    proc.send_signal(signum)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
    return code, log.read_text(errors="replace")


# Ctrl-C under `make run`: the terminal's SIGINT, and `up` passing on a SIGTERM. (A second
# SIGINT is uvicorn's forced quit: `up` passed one on, and that alone logged a traceback.)
STOPS = {"ctrl-c": (signal.SIGINT,), "term": (signal.SIGTERM,),
         "make-run": (signal.SIGINT, signal.SIGTERM)}  # fmt: skip


@pytest.mark.parametrize("how", list(STOPS))
def test_the_service_stops_quietly(tmp_path: Path, how: str) -> None:
    port = free_port()
    argv = [TUITIONGUARD, "serve", "--host", "127.0.0.1", "--port", str(port)]
    code, out = _stopped(argv, f"http://127.0.0.1:{port}/readyz", tmp_path, *STOPS[how])
    assert "Application shutdown complete" in out
    assert code == 0, out[-2000:]
    assert "Traceback" not in out and '"level": "error"' not in out, out[-3000:]


def test_the_bank_simulator_stops_quietly(tmp_path: Path) -> None:
    port = free_port()
    argv = [TUITIONGUARD, "bank-sim", "--port", str(port)]
    code, out = _stopped(argv, f"http://127.0.0.1:{port}/sim/accounts", tmp_path, signal.SIGINT)
    assert code == 0 and "Traceback" not in out, out[-3000:]


def test_ctrl_c_of_make_run_stops_everything_quietly(tmp_path: Path) -> None:
    """`tuitionguard up` (what `make run` runs) on a seeded demo, Ctrl-C to its process group:
    the service, the bank simulator and `up` itself end with exit 0 and nothing at error
    level."""
    seeded = [TUITIONGUARD, "demo", "seed", "--history-days", "3"]
    subprocess.run(seeded, env=_env(tmp_path), cwd=tmp_path, check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    port, bank_port = free_port(), free_port()
    argv = [TUITIONGUARD, "up", "--port", str(port), "--bank-port", str(bank_port)]
    # A while after it is up (the way a person stops it): the scheduler's threads are running.
    code, out = _stopped(argv, f"http://127.0.0.1:{port}/readyz", tmp_path, signal.SIGINT,
                         group=True, after=10)  # fmt: skip
    bank = (tmp_path / "bank-sim.log").read_text(errors="replace")
    assert "Application shutdown complete" in out, out[-3000:]
    assert code == 0, out[-2000:]
    for text in (out, bank):
        assert "Traceback" not in text and '"level": "error"' not in text, text[-3000:]
