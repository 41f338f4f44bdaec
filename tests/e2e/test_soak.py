"""The chaos soak, short (the reliability issue): twenty seconds of money operations from many
clients while PostgreSQL restarts, the API is killed with SIGKILL and restarted, and commits
lose their answers; then the books must hold exactly. The two-minute run with its figures:
`bench/soak.py --seconds 120` (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.soak import run


@pytest.mark.xdist_group("soak")
def test_the_books_hold_through_restarts_kills_and_lost_commits(tmp_path: Path) -> None:
    # More clients than the service's worker threads, as in the long run (64 against 40).
    report = run(seconds=20, rate=25, clients=16, schools=4, logs=tmp_path, threads=4)
    failed = [name for name, ok in report.checks.items() if not ok]
    assert failed == [], (failed, report.details, report.errors)
    assert report.acknowledged > 150, report
    assert report.details["commits cut"] >= 1
    assert all(r < 60 for r in report.recoveries.values()), report.recoveries
