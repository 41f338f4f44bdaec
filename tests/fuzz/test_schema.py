"""The API's own document against the API (the reliability issue: API fuzzing), a bounded run
in `make test`: every operation, as its caller, positive and negative data, every check — no
5xx, every answer as its document declares, bad data refused, authentication never ignored.
The long run: `bench/fuzz.py`."""

from __future__ import annotations

from sqlalchemy import Engine

from service.config import Settings
from tests.fuzz.schema_run import fuzz, load, world

EXAMPLES = 8


def test_the_api_keeps_its_own_document(engine: Engine, settings: Settings) -> None:
    app, callers = world(engine, settings)
    ran, failures = fuzz(load(app, examples=EXAMPLES), callers, examples=EXAMPLES)
    assert ran > 500
    assert failures == [], "\n\n".join(f"{f.operation} ({f.mode}): {f.error}" for f in failures)
