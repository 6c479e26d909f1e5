"""Steady client traffic through the router, recorded request by request (the demo's load
and the end-to-end tests').

A thread runs an asyncio loop with ``workers`` clients, each sending V2 inference requests of
one iris row at a fixed pace. Every request is recorded: when it was sent, the HTTP status (or
the transport error), the track the router says answered (``X-Canaria-Track``) and the model
version in the response body.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import httpx
import numpy as np

from canaria_serving import contract

__all__ = ["LoadGenerator", "Record"]


@dataclass(frozen=True)
class Record:
    at: float  # time.time() when sent
    status: int | None  # None: no HTTP response at all
    error: str | None
    track: str | None
    version: str | None

    @property
    def failed(self) -> bool:
        """Failed by the system (not answered by a model): no response, or a router error.
        A 500 is the model's own failure (the router never answers 500; without a router,
        traffic mode Replicas, the serving pod answers with no track header)."""
        return self.status is None or (self.status not in (200, 500) and self.track is None)


class LoadGenerator:
    def __init__(
        self, url: str, rows: np.ndarray, *, rate: float = 25.0, workers: int = 4, seed: int = 7
    ) -> None:
        self.url = url.rstrip("/") + contract.v2_infer_path("iris")
        self.rows, self.rate, self.workers = rows, rate, workers
        self.rng = np.random.default_rng(seed)
        self.records: list[Record] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="load", daemon=True)

    def start(self) -> LoadGenerator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests so far by (answering version or track, outcome)."""
        out: dict[tuple[str, str], int] = {}
        for r in list(self.records):
            who = r.version or r.track or "-"
            what = "failed" if r.failed else ("ok" if r.status == 200 else str(r.status))
            out[(who, what)] = out.get((who, what), 0) + 1
        return out

    def since(self, t: float) -> list[Record]:
        return [r for r in list(self.records) if r.at >= t]

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=self.workers)
        async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
            await asyncio.gather(*(self._worker(client) for _ in range(self.workers)))

    async def _worker(self, client: httpx.AsyncClient) -> None:
        pause = self.workers / self.rate
        while not self._stop.is_set():
            started = time.time()
            row = self.rows[int(self.rng.integers(len(self.rows)))]
            body = {
                "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": row.tolist()}]
            }
            self.records.append(await _send(client, self.url, body, started))
            await asyncio.sleep(max(0.0, pause - (time.time() - started)))


async def _send(client: httpx.AsyncClient, url: str, body: object, started: float) -> Record:
    try:
        resp = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        return Record(started, None, repr(exc), None, None)
    track = resp.headers.get("x-canaria-track")
    version = None
    if resp.status_code == 200:
        version = str(resp.json().get("model_version"))
    return Record(started, resp.status_code, None if resp.is_success else resp.text, track, version)
