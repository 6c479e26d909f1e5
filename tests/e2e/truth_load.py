"""Client traffic whose truth arrives later: V2 requests with ids through the model's Service,
and, ``delay`` seconds after each answer, its truth POSTed to the feedback endpoint (batched,
as a labelling pipeline would).

Every request is recorded (time, id, truth, status, the answering track and version), and
every feedback call's answer, so a test can say who answered what and what became of each
truth.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from canaria_serving import contract

__all__ = ["Sent", "TruthLoad"]


@dataclass
class Sent:
    at: float
    id: str
    truth: int
    status: int | None
    track: str | None = None
    version: str | None = None
    labelled: bool = False

    @property
    def failed(self) -> bool:
        """Failed by the system: no answer, or an error from the router itself."""
        return self.status is None or (self.status != 200 and self.track is None)


@dataclass
class TruthLoad:
    url: str  # the model's Service
    model: str
    x: np.ndarray
    y: np.ndarray
    rate: float = 25.0
    delay: float = 5.0
    workers: int = 4
    sent: list[Sent] = field(default_factory=list)
    feedback: list[tuple[int, Any]] = field(default_factory=list)  # (status, body)
    calls: list[tuple[float, float, int]] = field(default_factory=list)  # (at, seconds, items)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._rng = np.random.default_rng(11)
        self._n = 0

    def start(self) -> TruthLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def since(self, t: float) -> list[Sent]:
        return [s for s in list(self.sent) if s.at >= t]

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10.0) as client:
            await asyncio.gather(
                *(self._client(client) for _ in range(self.workers)), self._labeller(client)
            )

    async def _client(self, client: httpx.AsyncClient) -> None:
        pause = self.workers / self.rate
        path = contract.v2_infer_path(self.model)
        while not self._stop.is_set():
            started = time.time()
            i = int(self._rng.integers(len(self.y)))
            self._n += 1
            rid = f"c-{self._n}-{int(started * 1000)}"
            row = self.x[i].tolist()
            tensor = {"name": "X", "shape": [1, len(row)], "datatype": "FP32", "data": row}
            body = {"id": rid, "inputs": [tensor]}
            record = Sent(started, rid, int(self.y[i]), None)
            try:
                resp = await client.post(path, json=body)
                record.status = resp.status_code
                record.track = resp.headers.get("x-canaria-track")
                if resp.status_code == 200:
                    record.version = str(resp.json().get("model_version"))
            except httpx.HTTPError:
                pass
            self.sent.append(record)
            await asyncio.sleep(max(0.0, pause - (time.time() - started)))

    async def _labeller(self, client: httpx.AsyncClient) -> None:
        """Truths of the answered requests at least ``delay`` old, once a second."""
        path = contract.v2_feedback_path(self.model)
        while not self._stop.is_set():
            await asyncio.sleep(1.0)
            due = [
                s
                for s in list(self.sent)
                if s.status == 200 and not s.labelled and s.at <= time.time() - self.delay
            ]
            for start in range(0, len(due), 200):
                batch = due[start : start + 200]
                for s in batch:
                    s.labelled = True
                items = [{"id": s.id, "truth": s.truth} for s in batch]
                started = time.time()
                try:
                    resp = await client.post(path, json={"feedback": items})
                    self.calls.append((started, time.time() - started, len(items)))
                    self.feedback.append((resp.status_code, resp.json()))
                except (httpx.HTTPError, ValueError) as exc:
                    self.feedback.append((0, repr(exc)))
