"""Conformance (issue 31): `st run --checks all` — the schemathesis command line, every check,
every phase, the repository's schemathesis.toml — against the service served over HTTP, as
a regulator and as an institution, each sending its one credential to every operation (the
other callers' operations then answer 401, and their `Allow` and their refusals must still be
as documented). Bounded: a few examples per operation and a fixed seed, on SQLite (what is
checked is the HTTP document; the in-process run of tests/fuzz/test_schema.py covers both
databases); the long run, on PostgreSQL: `bench/fuzz.py --cli`. 0 failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from service.config import Settings
from tests.fuzz.schema_run import ROOT, world
from tests.live import serving

EXAMPLES = 3
ST = str(Path(sys.executable).with_name("st"))


def st_run(
    base: str, token: str, *, examples: int, seed: int = 1
) -> subprocess.CompletedProcess[str]:
    """`st run` from the repository's root (so it reads schemathesis.toml), one worker."""
    command = [ST, "run", f"{base}/openapi.json", "--checks", "all",
               "-H", f"Authorization: Bearer {token}", "--max-examples", str(examples),
               "--seed", str(seed), "--workers", "1", "--no-color"]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("caller", ["regulator", "institution"])
def test_st_run_checks_all_finds_nothing(caller: str, engine: Engine, settings: Settings) -> None:
    app, callers = world(engine, settings)
    token = callers.regulator if caller == "regulator" else callers.institution
    with serving(app) as base:
        done = st_run(base, token, examples=EXAMPLES)
    tail = done.stdout[-30000:] + done.stderr[-3000:]
    assert done.returncode == 0, tail
