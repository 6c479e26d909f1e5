"""Production data logging: a sampled JSON-lines log of inputs, outputs and model version.

Off by default. Requests only do a random draw and a ``put_nowait`` on a bounded queue; a
background thread serializes and writes. When the queue is full the record is dropped and
counted (``canaria_payload_log_dropped_total``): logging never slows or blocks serving.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

__all__ = ["PayloadLogger"]

log = logging.getLogger("canaria.serve")
_STOP = object()
_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _default(obj: Any) -> Any:
    if hasattr(obj, "dtype") and obj.dtype.kind == "V":  # bfloat16
        return obj.astype("float32").tolist()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError


class PayloadLogger:
    def __init__(
        self,
        path: Path,
        *,
        sample_rate: float,
        model: str,
        version: str,
        track: str,
        max_queue: int,
        on_drop: Callable[[], None],
    ) -> None:
        self._path = path
        self._rate = sample_rate
        self._ids = {"model": model, "version": version, "track": track}
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._on_drop = on_drop
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self._warned = False

    def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write_loop, name="payload-log", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued and stop the writer (blocking; call from a thread)."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("payload log: queue still full at shutdown, some records are lost")
        self._thread.join(timeout)
        self._thread = None

    def sampled(self) -> bool:
        return self._rate >= 1.0 or random.random() < self._rate

    def record(self, request_id: str, protocol: str, inputs: Any, outputs: Any) -> None:
        """Queue one record; drop and count it if the writer is behind. Never blocks."""
        item = (time.time(), request_id, protocol, inputs, outputs)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            self._on_drop()

    def _write_loop(self) -> None:
        # unbuffered O_APPEND, one write per record: with several workers appending to the
        # same file, records never interleave mid-line. A record that cannot be written is
        # dropped and counted; the writer itself never stops before shutdown.
        with self._path.open("ab", buffering=0) as f:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                try:
                    f.write(self._line(item))
                except Exception as exc:
                    self.dropped += 1
                    self._on_drop()
                    if not self._warned:
                        self._warned = True
                        log.error("payload log: dropping a record that cannot be written: %s", exc)

    def _line(self, item: object) -> bytes:
        assert isinstance(item, tuple)
        ts, request_id, protocol, inputs, outputs = item
        return orjson.dumps(
            {
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
                + f".{int((ts % 1) * 1e6):06d}Z",
                "request_id": request_id,
                "protocol": protocol,
                **self._ids,
                "inputs": inputs,
                "outputs": outputs,
            },
            default=_default,
            option=_OPTS,
        )
