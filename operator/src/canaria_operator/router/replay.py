"""Replay: recent payload-log records of the stable, sent to the canary at a set rate.

While the ModelDeployment's status asks for it (``status.rollout.replayRps``: the Shadow
stage or BlueGreen preview of a rollout with ``spec.rollout.analysis.replay``), every second
the router sends that many records to the canary's pods, round-robin. Records come from a
stable pod's ``/internal/payloads`` (its payload log read back as V2 requests, with the
request id and what the stable answered then), fetched again when used up. The canary's
answer is compared with the stable's recorded one and counted like a mirrored request
(``canaria_shadow_comparisons_total``, so the shadow-agreement check judges a quiet model
too) and in ``canaria_router_replayed_total``. The canary's own metrics (errors, latency,
predictions) count the replayed requests, and its feedback store keeps them under their
original ids, so late truths judge them as well.

Replayed requests go to the canary only: nothing a client sent is sent twice to the stable.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import orjson

from canaria_operator.router.pool import BackendResponse
from canaria_operator.router.shadow import ERROR, compare_bodies
from canaria_operator.router.table import Backend, RoutingTable
from canaria_serving import contract as c

__all__ = ["REFILL", "Replayer"]

log = logging.getLogger("canaria.router")
REFILL = 100  # records asked for at a time
_TICK = 1.0


def _request(method: bytes, backend: Backend, path: bytes, body: bytes, rid: bytes) -> bytes:
    head = b"%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (
        method,
        path,
        backend.host.encode(),
        backend.port,
    )
    head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    if rid:
        head += b"X-Request-Id: %s\r\n" % rid
    return head + b"\r\n" + body


class Replayer:
    def __init__(self, router: Any) -> None:
        self.router = router  # canaria_operator.router.proxy.Router
        self.records: deque[dict[str, Any]] = deque()
        self.model = ""
        self._credit = 0.0
        self._rr = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(_TICK)
            try:
                await self.tick(self.router.table())
            except Exception:  # replay never takes the router down
                log.exception("replay: a tick failed")

    async def tick(self, table: RoutingTable) -> int:
        """Send this second's share; returns how many were sent."""
        if table.replay_rps <= 0 or not table.canary or not table.stable:
            self.records.clear()
            self._credit = 0.0
            return 0
        self._credit = min(self._credit + table.replay_rps, table.replay_rps * 2)
        sent = 0
        while self._credit >= 1.0:
            if not self.records and not await self.refill(table):
                return sent
            self._credit -= 1.0
            self.send(table, self.records.popleft())
            sent += 1
        return sent

    async def refill(self, table: RoutingTable) -> bool:
        backend = table.stable[self._rr % len(table.stable)]
        self._rr += 1
        path = b"%s?limit=%d" % (c.PATH_INTERNAL_PAYLOADS.encode(), REFILL)
        resp = await self._call(backend, _request(b"GET", backend, path, b"", b""))
        if resp is None or resp.status != 200:
            log.warning("replay: no records from %s:%d", backend.host, backend.port)
            return False
        data = orjson.loads(resp.body)
        self.model = str(data.get("model") or self.model)
        self.records.extend(data.get("records") or [])
        return bool(self.records)

    def _call(self, backend: Backend, raw: bytes) -> asyncio.Future[BackendResponse | None]:
        future: asyncio.Future[BackendResponse | None] = asyncio.get_running_loop().create_future()

        def done(resp: BackendResponse | None, _: Exception | None) -> None:
            if not future.done():
                future.set_result(resp)

        self.router.pool.send(backend, raw, done, False)
        return future

    def send(self, table: RoutingTable, record: dict[str, Any]) -> None:
        backend = table.canary[self._rr % len(table.canary)]
        self._rr += 1
        body = orjson.dumps(record["body"])
        rid = str(record.get("id") or "").encode("latin-1", "replace")[:128]
        path = c.v2_infer_path(self.model).encode()
        recorded = orjson.dumps(
            {"outputs": [{"name": k, "data": v} for k, v in (record.get("outputs") or {}).items()]}
        )
        metrics = self.router.metrics

        def done(resp: BackendResponse | None, _: Exception | None) -> None:
            ok = resp is not None and resp.status == 200
            result = compare_bodies(recorded, resp.body) if ok and resp is not None else ERROR
            metrics.shadow[result].inc()
            metrics.replayed[result].inc()

        self.router.pool.send(backend, _request(b"POST", backend, path, body, rid), done, False)
