"""The app served by a real uvicorn on 127.0.0.1 in a thread of the test process: for tests
that need requests truly at once over HTTP, with the test's engine and clock."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI, **options: Any) -> Iterator[str]:
    """Serve `app` (with these uvicorn options) until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, access_log=False, **options
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise AssertionError("the test server did not start")
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=base) as c:
            assert c.get("/healthz").status_code == 200
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


Work = Callable[[httpx.Client], Iterable[tuple[str, httpx.Response]]]


def at_once(base: str, works: list[Work]) -> list[tuple[str, int]]:
    """Each work in a thread of its own, with a client of its own, all released together:
    every answer's (kind, status)."""
    gate, answers = threading.Barrier(len(works)), []

    def run(work: Work) -> None:
        gate.wait()
        with httpx.Client(base_url=base, timeout=30) as own:
            answers.extend((kind, r.status_code) for kind, r in work(own))

    threads = [threading.Thread(target=run, args=(w,)) for w in works]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return answers
