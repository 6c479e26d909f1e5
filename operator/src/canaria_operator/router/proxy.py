"""The router's request handling: split, forward, retry, mirror, measure.

Per request: take the current routing table snapshot (a weight change never affects a request
in flight), pick the track (sticky header hash or a uniform draw), pick a backend round-robin
and forward over pooled keep-alive connections. Only a failed *connection* is retried (on the
next backend of the same track, then of the other track): the request was never sent, so
nothing is ever sent twice. A share of stable traffic can be mirrored to the canary in the
background; whether the predictions agree is counted in ``canaria_shadow_comparisons_total``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from canaria_operator.router.metrics import RouterMetrics
from canaria_operator.router.pool import BackendFailed, BackendPool, ConnectFailed
from canaria_operator.router.shadow import ERROR, compare_bodies
from canaria_operator.router.sources import BackendSource
from canaria_operator.router.table import Backend, RoutingTable, choose_track, sticky_bucket
from canaria_operator.router.wire import Request, Response, json_response
from canaria_serving import contract as c

__all__ = ["TRACK_HEADER", "Router"]

log = logging.getLogger("canaria.router")

TRACK_HEADER = b"X-Canaria-Track"
_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    )
)
_OTHER = {c.TRACK_STABLE: c.TRACK_CANARY, c.TRACK_CANARY: c.TRACK_STABLE}
_TRACK_BYTES = {t: t.encode() for t in c.TRACKS}


def _error(status: int, message: str, track: str | None = None) -> Response:
    headers = [(TRACK_HEADER, _TRACK_BYTES[track])] if track else None
    return json_response(status, {"error": message}, headers)


class Router:
    def __init__(
        self,
        source: BackendSource,
        metrics: RouterMetrics,
        *,
        sticky_header: str | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 1.0,
        shadow_concurrency: int = 32,
        seed: int | None = None,
    ) -> None:
        self.source, self.metrics = source, metrics
        self.sticky_header = sticky_header.lower().encode() if sticky_header else None
        self.pool = BackendPool(connect_timeout=connect_timeout, timeout=timeout)
        self._rng = random.Random(seed)
        self._rr = {c.TRACK_STABLE: 0, c.TRACK_CANARY: 0}
        self._shadow_slots = shadow_concurrency
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._seen: RoutingTable | None = None
        self._own = {
            c.PATH_LIVE: self.live,
            c.PATH_READY: self.ready,
            c.PATH_METRICS: self.metrics_endpoint,
        }

    async def close(self) -> None:
        for task in list(self._shadow_tasks):
            task.cancel()
        await asyncio.gather(*self._shadow_tasks, return_exceptions=True)
        self.pool.close()

    def table(self) -> RoutingTable:
        table = self.source.current
        if table is not self._seen:
            self._seen = table
            self.metrics.set_weight(table.canary_weight)
        return table

    def _candidates(self, table: RoutingTable, track: str) -> list[tuple[str, Backend]]:
        """Backends to try in order: the track's (round-robin), then the other track's."""
        out: list[tuple[str, Backend]] = []
        for t in (track, _OTHER[track]):
            backends = table.backends(t)
            if backends:
                start = self._rr[t]
                self._rr[t] = start + 1
                n = len(backends)
                out.extend((t, backends[(start + k) % n]) for k in range(n))
        return out

    async def handle(self, req: Request) -> Response:
        own = self._own.get(req.path)
        if own is not None and req.method == "GET":
            return own()
        started = time.perf_counter()
        table = self.table()
        key = req.header(self.sticky_header) if self.sticky_header else None
        draw = sticky_bucket(key.decode("latin-1")) if key else self._rng.randrange(10_000)
        track = choose_track(table.canary_weight, draw)
        candidates = self._candidates(table, track)
        if not candidates:
            return self._fail(
                track,
                started,
                503,
                f"no ready backend for track {track} of "
                f"model {self.metrics.model} (nor for the other track)",
            )
        headers = [(k, v) for k, v in req.headers if k.lower() not in _HOP]
        tried: list[str] = []
        for used, backend in candidates:
            head = _head(req.method, req.target, backend, headers, len(req.body))
            try:
                resp = await self.pool.request(backend, head, req.body)
            except ConnectFailed as exc:  # never sent: safe to try the next backend
                tried.append(str(exc))
                continue
            except BackendFailed as exc:
                status = 504 if exc.timeout else 502
                return self._fail(
                    used,
                    started,
                    status,
                    f"backend {backend.host}:{backend.port} of track {used} failed: {exc}",
                )
            out_headers = [(k, v) for k, v in resp.headers if k.lower() not in _HOP]
            out_headers.append((TRACK_HEADER, _TRACK_BYTES[used]))
            self.metrics.request(used, resp.status, time.perf_counter() - started)
            if (
                used == c.TRACK_STABLE
                and table.mirror_percent
                and resp.status == 200
                and self._rng.randrange(100) < table.mirror_percent
            ):
                self._mirror(table, req, headers, resp.body)
            return Response(resp.status, resp.body, out_headers)
        log.warning("no backend reachable: %s", "; ".join(tried))
        return self._fail(
            track,
            started,
            502,
            f"no backend of model {self.metrics.model} reachable; tried {', '.join(tried)}",
        )

    def _fail(self, track: str, started: float, status: int, message: str) -> Response:
        self.metrics.request(track, status, time.perf_counter() - started)
        return _error(status, message, track)

    # --- mirroring ---------------------------------------------------------------------------

    def _mirror(
        self,
        table: RoutingTable,
        req: Request,
        headers: list[tuple[bytes, bytes]],
        stable_body: bytes,
    ) -> None:
        if not table.canary or len(self._shadow_tasks) >= self._shadow_slots:
            return  # no canary, or mirroring saturated: skip rather than queue
        start = self._rr[c.TRACK_CANARY]
        self._rr[c.TRACK_CANARY] = start + 1
        backend = table.canary[start % len(table.canary)]
        head = _head(req.method, req.target, backend, headers, len(req.body))
        task = asyncio.ensure_future(self._shadow(backend, head, req.body, stable_body))
        self._shadow_tasks.add(task)
        task.add_done_callback(self._shadow_tasks.discard)

    async def _shadow(self, backend: Backend, head: bytes, body: bytes, stable: bytes) -> None:
        try:
            resp = await self.pool.request(backend, head, body)
        except (ConnectFailed, BackendFailed):
            result = ERROR
        else:
            result = compare_bodies(stable, resp.body) if resp.status == 200 else ERROR
        self.metrics.shadow[result].inc()

    # --- own endpoints -----------------------------------------------------------------------

    def live(self) -> Response:
        return json_response(200, {"status": "live"})

    def ready(self) -> Response:
        table = self.table()
        if not self.source.synced:
            return _error(503, "routing table not synced yet")
        if not (table.stable or table.canary):
            return _error(503, f"no ready backend for model {self.metrics.model}")
        return json_response(
            200,
            {
                "status": "ready",
                "canaryWeight": table.canary_weight,
                "stable": len(table.stable),
                "canary": len(table.canary),
            },
        )

    def metrics_endpoint(self) -> Response:
        return Response(
            200,
            self.metrics.render(),
            [(b"Content-Type", b"text/plain; version=0.0.4; charset=utf-8")],
        )


def _head(
    method: str, target: bytes, backend: Backend, headers: list[tuple[bytes, bytes]], length: int
) -> bytes:
    parts = [
        method.encode("ascii"),
        b" ",
        target,
        b" HTTP/1.1\r\nHost: ",
        backend.host.encode("ascii"),
        b":%d\r\nContent-Length: %d\r\n" % (backend.port, length),
    ]
    for k, v in headers:
        parts.extend((k, b": ", v, b"\r\n"))
    parts.append(b"\r\n")
    return b"".join(parts)
