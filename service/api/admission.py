"""No more requests inside the app at once than it has worker threads; the rest wait their turn
in the event loop, holding nothing.

A request crosses the worker-thread pool several times: its dependencies, its route, the check
of its answer, its commit. Between crossings it may hold row locks, since its transaction stays
open until its answer leaves. With more requests inside than threads, every thread could be
taken by requests waiting on the locks of one that then cannot get a thread back to finish,
and all of them stall for good (seen in the chaos soak: 64 clients against 40 threads, every
request waiting on a lock held by a transaction that never committed). Admitted no more than
the threads, each request holding at most one at a time, a thread is always free for the
request that can finish. (The one thing a request runs beside its route, the renewal of its
idempotency claim, runs outside the pool: `beside_the_request`.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

T = TypeVar("T")


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        # Made on first use in the loop that serves: a test's app may outlive its loop.
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Semaphore(self.limit))
        return self._gate[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)


async def beside_the_request(fn: Callable[..., T], *args: Any) -> T:
    """Runs `fn`, which a request runs beside its route, in a worker thread outside the
    requests' pool, so an admitted request holds at most one thread of it at a time. A limiter
    of its own per call, as FastAPI exits its dependencies."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=anyio.CapacityLimiter(1))
