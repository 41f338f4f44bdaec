"""The cycle collector's pause is counted: blocks that overlap (a bank's batch and the
scheduler's sweep in threads of one process) keep it off until the last ends, and it is back
on only if it was on before the first."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from service.kit.db import collector_paused


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_overlapping_pauses_keep_it_off_until_the_last_ends() -> None:
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second block still runs: a toggle turned it back on here
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_it_is_back_on_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_threads_pausing_at_once_leave_it_on() -> None:
    start = threading.Barrier(8)
    seen_on: list[bool] = []

    def work() -> None:
        start.wait()
        for _ in range(200):
            with collector_paused():
                seen_on.append(gc.isenabled())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()
    assert not any(seen_on)  # inside any block it was off, whatever the others did
