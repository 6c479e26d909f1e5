"""Optional micro-batching of concurrent small requests, for models with a batch dimension.

Requests queue up; one task takes whatever arrived (up to ``max_batch_size`` rows), waits at
most ``max_delay_s`` for more, stacks the requests whose inputs agree on every dim but the
first, runs one onnxruntime call per such group and hands each caller its rows. The default
(16 rows, delay 0) joins only rows already waiting (one event-loop turn), never waiting for
more: bench/serving_bench.py measured it 1.56x faster than no batching on the ~20 us benchmark
model; an added delay lost, as batching does for tiny models elsewhere.

It can never take the server down or hang a request:

* a failing stacked call is retried request by request, so only the request that makes the
  model fail gets the error;
* any other failure (stacking, slicing, a bug) fails the requests of that turn, and the loop
  goes on; if the loop task itself ends (killed, cancelled), every waiting request is failed
  and the next request starts a new loop;
* :meth:`check_stalled` (called periodically) fails the requests of a call that has not
  returned within ``timeout_s`` with :class:`BatcherStalled`, and :attr:`stalled` tells the
  readiness probe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["BatcherStalled", "BatcherStopped", "MicroBatcher"]

log = logging.getLogger("canaria.serve")

Feeds = dict[str, np.ndarray]
Result = tuple[list[Any], float, int]  # this request's outputs, the call's seconds, its rows
RunFn = Callable[[Feeds], tuple[list[Any], float]]
OnCall = Callable[[int, float], None]


class BatcherStalled(Exception):
    """The model has not answered a batched call within the timeout."""


class BatcherStopped(Exception):
    """The batching loop ended (shutdown, or killed) before answering."""


class _Item:
    __slots__ = ("feeds", "future", "rows")

    def __init__(self, feeds: Feeds, rows: int, future: asyncio.Future[Result]) -> None:
        self.feeds = feeds
        self.rows = rows
        self.future = future

    def key(self) -> tuple[Any, ...]:
        """What must be equal to stack: every input's dims but the first (the dtypes are the
        model's, validation saw to that)."""
        return tuple([a.shape[1:] for a in self.feeds.values()])

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class MicroBatcher:
    def __init__(
        self,
        run: RunFn,
        on_call: OnCall,
        max_batch_size: int,
        max_delay_s: float,
        inline_rows: int,
        *,
        timeout_s: float = 60.0,
    ) -> None:
        self._run = run
        self._on_call = on_call
        self._max = max_batch_size
        self._delay = max_delay_s
        self._inline_rows = inline_rows
        self._timeout = timeout_s
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._running: list[_Item] = []  # the requests of the call in progress
        self._call_started: float | None = None
        self.restarts = 0

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")
            self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._fail_waiting(BatcherStopped("the server is shutting down"))

    def _ended(self, task: asyncio.Task[None]) -> None:
        """The loop task ended: fail whoever waits; the next request starts a new loop."""
        if self._stopping:
            return
        reason = "cancelled" if task.cancelled() else repr(task.exception())
        log.error("the micro-batching loop ended (%s); failing its waiting requests", reason)
        self._fail_waiting(BatcherStopped(f"the micro-batching loop ended ({reason})"))

    def _fail_waiting(self, exc: BaseException) -> None:
        for item in self._running:
            item.fail(exc)
        self._running = []
        self._call_started = None
        while not self._queue.empty():
            self._queue.get_nowait().fail(exc)

    @property
    def stalled(self) -> bool:
        started = self._call_started
        return started is not None and time.monotonic() - started > self._timeout

    def check_stalled(self) -> bool:
        """Fail the requests of a call that has not returned in time; True while stalled."""
        if not self.stalled:
            return False
        exc = BatcherStalled(f"the model has not answered within {self._timeout:g} s")
        for item in self._running:
            item.fail(exc)
        while not self._queue.empty():
            self._queue.get_nowait().fail(exc)
        return True

    # --- requests ------------------------------------------------------------------------
    async def submit(self, feeds: Feeds, rows: int) -> Result:
        """Queue one request (``rows`` along axis 0 of every input); return its outputs."""
        if self.stalled:
            raise BatcherStalled(f"the model has not answered within {self._timeout:g} s")
        if self._task is None or self._task.done():
            self.restarts += self._task is not None
            self.start()
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(feeds, rows, fut))
        return await fut

    def _drain(self, items: list[_Item], rows: int) -> int:
        while rows < self._max and not self._queue.empty():
            item = self._queue.get_nowait()
            items.append(item)
            rows += item.rows
        return rows

    async def _loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            try:
                await asyncio.sleep(0)  # let requests that are already parsed join
                rows = self._drain(items, items[0].rows)
                if rows < self._max and self._delay > 0:
                    await asyncio.sleep(self._delay)
                    self._drain(items, rows)
                for group in _groups(items):
                    await self._execute(group)
            except asyncio.CancelledError:
                for item in items:
                    item.fail(BatcherStopped("the micro-batching loop was cancelled"))
                raise
            except Exception as exc:  # a bug here fails this turn's requests, not the server
                log.exception("micro-batching failed; failing the requests of this batch")
                for item in items:
                    item.fail(exc)
            finally:
                self._running = []
                self._call_started = None

    async def _call(self, items: list[_Item], feeds: Feeds, rows: int) -> tuple[list[Any], float]:
        self._running = items
        self._call_started = time.monotonic()
        try:
            if rows <= self._inline_rows:
                return self._run(feeds)
            return await asyncio.to_thread(self._run, feeds)
        finally:
            self._call_started = None

    async def _execute(self, items: list[_Item]) -> None:
        if len(items) == 1:
            item = items[0]
            try:
                outputs, seconds = await self._call(items, item.feeds, item.rows)
            except Exception as exc:  # handed to the caller, mapped to HTTP there
                item.fail(exc)
                return
            self._on_call(item.rows, seconds)  # on the event loop: metrics need no locks
            if not item.future.done():
                item.future.set_result((outputs, seconds, item.rows))
            return
        rows = sum(i.rows for i in items)
        feeds = {n: np.concatenate([i.feeds[n] for i in items]) for n in items[0].feeds}
        try:
            outputs, seconds = await self._call(items, feeds, rows)
            if any(len(o) != rows for o in outputs):
                raise ValueError("an output does not have one entry per stacked row")
        except Exception:
            # one request may make the whole stack fail: run them one by one, so only it fails
            for item in items:
                await self._execute([item])
            return
        self._on_call(rows, seconds)
        start = 0
        for item in items:
            n = item.rows
            if not item.future.done():
                item.future.set_result(([o[start : start + n] for o in outputs], seconds, rows))
            start += n


def _groups(items: list[_Item]) -> list[list[_Item]]:
    """Requests that can be stacked, in arrival order of their first member."""
    if len(items) == 1:
        return [items]
    first = items[0].key()
    if all(item.key() == first for item in items):  # the usual case: one group
        return [items]
    groups: dict[tuple[Any, ...], list[_Item]] = {}
    for item in items:
        if not item.future.done():  # a caller that gave up (or was failed) needs no run
            groups.setdefault(item.key(), []).append(item)
    return list(groups.values())
