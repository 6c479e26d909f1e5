"""One pod's side of ground-truth feedback: keep its predictions, match truths, fan out.

* Every answered request's predictions are kept by request id (:meth:`FeedbackHub.record`,
  on the hot path: one list append; a background thread writes them to the pod's
  :class:`~canaria_serving.feedback.store.PredictionStore` every 50 ms and sweeps it every
  second).
* A feedback call may arrive at any serving pod of the model (through the router or the
  Service). That pod claims what it holds, and sends the same items to every other serving
  pod of the model (the headless Service named in ``CANARIA_FEEDBACK_PEERS``), which claim
  theirs: the version that answered a request gets its truth whichever pod received the
  call, and a Shadow canary that predicted on the mirrored copy gets it too.
* The pod holding a prediction scores it (its ``canaria_feedback_*`` counters, with its own
  version); the receiving pod counts what no pod could match, by reason.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from canaria_serving.feedback.metrics import FeedbackMetrics
from canaria_serving.feedback.peers import Peers
from canaria_serving.feedback.settings import FeedbackSettings
from canaria_serving.feedback.store import PredictionStore
from canaria_serving.feedback.truth import MAX_ROWS, Item, encode_prediction, score

__all__ = ["FeedbackHub", "Outcome"]

log = logging.getLogger("canaria.serve")

_FLUSH_S = 0.05
_SWEEP_S = 1.0
_MAX_PENDING = 50_000  # predictions waiting for the writer; beyond: dropped ("overload")
# When no pod matched an id, the reason reported is the most telling one any pod gave.
_PRIORITY = ("duplicate", "invalid", "expired", "evicted", "unreachable", "unknown")


@dataclass(frozen=True)
class Outcome:
    """What became of a feedback call: ids matched somewhere, and the rest with a reason."""

    matched: list[str]
    unmatched: list[tuple[str, str]]


def _rows(value: Any) -> list[Any] | None:
    """One prediction per row of a label or value output (first column); None if too big."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.shape[0] > MAX_ROWS:
        return None
    flat = arr.reshape(arr.shape[0], -1)[:, 0] if arr.ndim > 1 else arr
    out = flat.tolist()
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in out]


class FeedbackHub:
    def __init__(
        self,
        settings: FeedbackSettings,
        *,
        task: str,
        output: str,
        metrics: FeedbackMetrics,
        host: str,
        port: int,
        store: PredictionStore | None = None,
    ) -> None:
        assert settings.retention_s is not None
        self.settings, self.task, self.output, self.metrics = settings, task, output, metrics
        self.store = store or PredictionStore(
            settings.db, retention_s=settings.retention_s, max_predictions=settings.max_predictions
        )
        self.peers = Peers(settings.peers, host, port, settings.peer_timeout_s)
        self._pending: list[tuple[str, float, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- keeping predictions -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="feedback-store", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is pending and stop (blocking: call from a thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()
        self.store.close()

    def record(self, request_id: str, outputs: dict[str, Any]) -> None:
        """Keep this request's predictions (hot path: no encoding, no I/O)."""
        value = outputs.get(self.output)
        if value is None:  # the client asked for other outputs only: nothing to judge
            return
        if len(self._pending) >= _MAX_PENDING:
            self.metrics.dropped["overload"].inc()
            return
        self._pending.append((request_id, time.time(), value))

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        rows: list[tuple[str, float, str]] = []
        for rid, at, value in pending:
            values = _rows(value)
            if values is None:
                self.metrics.dropped["too_large"].inc()
                continue
            rows.append((rid, at, encode_prediction(values)))
        self.store.add(rows)

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.wait(_FLUSH_S):
            try:
                self.flush()
                if time.monotonic() - last_sweep >= _SWEEP_S:
                    last_sweep = time.monotonic()
                    swept = self.store.sweep()
                    self.metrics.dropped["expired"].inc(swept.expired)
                    self.metrics.dropped["evicted"].inc(swept.evicted)
                    self.metrics.stored.set(self.store.size())
            except Exception:  # the store never fails a request; say it and go on
                log.exception("feedback store: writing or sweeping failed")

    # --- matching truths ---------------------------------------------------------------------

    def claim_local(self, items: list[Item]) -> dict[str, str | None]:
        """Claim and score the items this pod holds: id -> None (matched) or a reason
        (blocking: call from a thread)."""
        self.flush()  # this process' newest predictions first
        truths = {i.id: i.truth for i in items}
        out: dict[str, str | None] = {}
        for claimed in self.store.claim(truths):
            if claimed.prediction is None:
                out[claimed.id] = claimed.reason or "unknown"
                continue
            s = score(claimed.prediction, truths[claimed.id], self.task)
            if s is None:
                self.store.unclaim(claimed.id)
                out[claimed.id] = "invalid"
                continue
            self.metrics.scored(s)
            out[claimed.id] = None
        return out

    async def receive(self, items: list[Item]) -> Outcome:
        """A feedback call arriving here: claim locally and on every other pod."""
        local, remote = await asyncio.gather(
            asyncio.to_thread(self.claim_local, items), self.peers.claim(items)
        )
        answers = [local, *remote.answers]
        matched: list[str] = []
        unmatched: list[tuple[str, str]] = []
        for item in items:
            reasons = [a.get(item.id, "unknown") for a in answers]
            if any(r is None for r in reasons):
                matched.append(item.id)
                continue
            found = {r for r in reasons if r is not None}
            if remote.failed:
                found.add("unreachable")
            why = next(r for r in _PRIORITY if r in found) if found & set(_PRIORITY) else "unknown"
            unmatched.append((item.id, why))
            self.metrics.unmatched[why].inc()
        return Outcome(matched, unmatched)
