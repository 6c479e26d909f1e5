"""Optional micro-batching of concurrent single-row requests.

Requests queue up; one task takes whatever arrived (up to ``max_batch_size``), waits at most
``max_delay_s`` for more, runs one onnxruntime call and hands each caller its row. The
default (16 rows, delay 0) joins only rows already waiting (one event-loop turn), never
waiting for more: bench/serving_bench.py measured it 1.56x faster than no batching on the
~20 us benchmark model; an added delay lost, as batching does for tiny models elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

__all__ = ["MicroBatcher"]

RunFn = Callable[[np.ndarray], tuple[list[np.ndarray], float]]
OnCall = Callable[[int, float], None]
_Item = tuple[np.ndarray, "asyncio.Future[tuple[list[np.ndarray], float, int]]"]


class MicroBatcher:
    def __init__(
        self, run: RunFn, on_call: OnCall, max_batch_size: int, max_delay_s: float, inline_rows: int
    ) -> None:
        self._run = run
        self._on_call = on_call
        self._max = max_batch_size
        self._delay = max_delay_s
        self._inline_rows = inline_rows
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def submit(self, rows: np.ndarray) -> tuple[list[np.ndarray], float, int]:
        """Queue ``rows`` (a small 2-D array); return its outputs, the call time, the batch size."""
        fut: asyncio.Future[tuple[list[np.ndarray], float, int]] = (
            asyncio.get_running_loop().create_future()
        )
        self._queue.put_nowait((rows, fut))
        return await fut

    def _drain(self, items: list[_Item], rows: int) -> int:
        while rows < self._max and not self._queue.empty():
            item = self._queue.get_nowait()
            items.append(item)
            rows += item[0].shape[0]
        return rows

    async def _loop(self) -> None:
        while True:
            items = [await self._queue.get()]
            await asyncio.sleep(0)  # let requests that are already parsed join
            rows = self._drain(items, items[0][0].shape[0])
            if rows < self._max and self._delay > 0:
                await asyncio.sleep(self._delay)
                rows = self._drain(items, rows)
            await self._execute(items, rows)

    async def _execute(self, items: list[_Item], rows: int) -> None:
        batch = np.concatenate([x for x, _ in items]) if len(items) > 1 else items[0][0]
        try:
            if rows <= self._inline_rows:
                outputs, seconds = self._run(batch)
            else:
                outputs, seconds = await asyncio.to_thread(self._run, batch)
        except Exception as exc:  # handed to every waiting caller, mapped to HTTP there
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self._on_call(rows, seconds)  # on the event loop: metrics need no locks
        start = 0
        for x, fut in items:
            n = x.shape[0]
            if not fut.done():
                fut.set_result(([o[start : start + n] for o in outputs], seconds, rows))
            start += n
