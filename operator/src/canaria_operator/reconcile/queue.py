"""The reconcile queue: one reconcile at a time per object, coalesced, re-checked on time.

Concurrent triggers for the same object (its own watch, its Deployments' and pods' watches,
a scheduled re-check) are coalesced: while a reconcile runs, further triggers only mark it
dirty and it runs once more at the end. After every reconcile the next one is scheduled
(``resync`` seconds at the latest, jittered; sooner if the outcome asks): a level-based
re-check without kopf timers, whose finalizer would block deletions whenever the operator is
down. Nothing here sleeps, and nothing here knows Kubernetes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Key", "ReconcileError", "ReconcileQueue", "Result"]

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)


class ReconcileError(Exception):
    """A reconcile that must be retried (``permanent=False``) or cannot succeed as is."""

    def __init__(self, message: str, *, permanent: bool = False, delay: float = 5.0):
        super().__init__(message)
        self.permanent = permanent
        self.delay = delay


@dataclass(frozen=True)
class Result:
    writes: int = 0
    status_written: bool = False
    events: int = 0
    requeue_after: float | None = None
    skipped: bool = False  # coalesced into the reconcile already running
    gone: bool = False  # the object no longer exists (or is being deleted)


Work = Callable[[str, str], Awaitable[Result]]


class ReconcileQueue:
    def __init__(
        self,
        work: Work,
        *,
        resync: float,
        on_coalesced: Callable[[], None] = lambda: None,
    ) -> None:
        self._work, self._resync, self._on_coalesced = work, resync, on_coalesced
        self._locks: dict[Key, asyncio.Lock] = {}
        self._dirty: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[object]] = set()

    async def run(self, namespace: str, name: str) -> Result:
        """Reconcile now (or mark the running reconcile dirty), then schedule the next."""
        key = (namespace, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            self._dirty.add(key)
            self._on_coalesced()
            return Result(skipped=True)
        async with lock:
            while True:
                self._dirty.discard(key)
                result = await self._work(namespace, name)
                if key not in self._dirty:
                    break
        if result.gone:
            self.forget(namespace, name)
        else:
            # never further away than the resync interval, jittered so that many objects
            # do not all wake at once
            resync = self._resync * random.uniform(0.9, 1.1)
            wanted = [d for d in (result.requeue_after, resync) if d is not None]
            self.schedule(namespace, name, min(wanted))
        return result

    def schedule(self, namespace: str, name: str, delay: float) -> None:
        """Reconcile again after ``delay`` seconds (replaces an earlier schedule)."""
        key = (namespace, name)
        if (old := self._timers.pop(key, None)) is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(max(delay, 0.0), self._fire, namespace, name)

    def soon(self, namespace: str, name: str, delay: float) -> None:
        """Reconcile within ``delay`` seconds: keeps an earlier schedule, so a burst of
        triggers coalesces into one reconcile and a steady stream cannot postpone it."""
        old = self._timers.get((namespace, name))
        if old is not None and old.when() <= asyncio.get_running_loop().time() + delay:
            return
        self.schedule(namespace, name, delay)

    def forget(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()
        self._locks.pop(key, None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _fire(self, namespace: str, name: str) -> None:
        self._timers.pop((namespace, name), None)
        task: asyncio.Task[object] = asyncio.ensure_future(self._background(namespace, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background(self, namespace: str, name: str) -> None:
        try:
            await self.run(namespace, name)
        except ReconcileError as exc:
            self.schedule(namespace, name, exc.delay)
        except Exception:
            log.exception(
                "scheduled reconcile of %s/%s failed",
                namespace,
                name,
                extra={"modeldeployment": f"{namespace}/{name}"},
            )
