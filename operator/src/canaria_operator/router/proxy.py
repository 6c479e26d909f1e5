"""The router's request handling: split, forward, retry, mirror, measure.

Per request: take the current routing table snapshot (a weight change never affects a request
in flight), pick the track (sticky header hash or a uniform draw), pick a backend round-robin
and forward over pooled keep-alive connections. Only a failed *connection* is retried (on the
next backend of the same track, then of the other track): the request was never sent, so
nothing is ever sent twice, with one exception: a request whose backend closed the connection
before sending any byte of an answer (a pod killed or shutting down, a pooled connection the
backend had just closed) is sent once more, to the next backend. Every endpoint of `canaria
serve` is idempotent (an inference is a function of its input), so the repeat cannot do harm,
and a dying pod costs clients nothing. A share of stable traffic can be mirrored to the canary
in the background; whether the predictions agree is counted in ``canaria_shadow_comparisons_total``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import time

from canaria_operator.router.http11 import HOP_BY_HOP, end_to_end
from canaria_operator.router.metrics import RouterMetrics
from canaria_operator.router.pool import (
    BackendFailed,
    BackendPool,
    BackendResponse,
    ConnectFailed,
)
from canaria_operator.router.shadow import ERROR, compare_bodies
from canaria_operator.router.sources import BackendSource
from canaria_operator.router.table import Backend, RoutingTable, choose_track, sticky_bucket
from canaria_operator.router.wire import Request, Respond, Response, json_response
from canaria_serving import contract as c

__all__ = ["TRACK_HEADER", "Router"]

log = logging.getLogger("canaria.router")

TRACK_HEADER = b"X-Canaria-Track"
REQUEST_ID_HEADER = b"X-Request-Id"
_ID_PREFIX = os.urandom(6).hex().encode()
_IDS = itertools.count(1)
_RESPONSE_DROP = HOP_BY_HOP | {b"content-length"}  # the front end writes its own length
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
        self.rng = random.Random(seed)
        self._rr = {c.TRACK_STABLE: 0, c.TRACK_CANARY: 0}
        self._shadow_slots = shadow_concurrency
        self._shadow_inflight = 0
        self.inflight = 0  # proxied requests not answered yet (drained on shutdown)
        self._drained: asyncio.Future[None] | None = None
        self._seen: RoutingTable | None = None
        self._own = {
            c.PATH_LIVE: self.live,
            c.PATH_READY: self.ready,
            c.PATH_METRICS: self.metrics_endpoint,
        }

    async def drain(self, seconds: float) -> None:
        """Wait until no proxied request is in flight (at most ``seconds``)."""
        if not self.inflight:
            return
        self._drained = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._drained), seconds)

    async def close(self) -> None:
        self.pool.close()

    def table(self) -> RoutingTable:
        table = self.source.current
        if table is not self._seen:
            self._seen = table
            self.metrics.set_weight(table.canary_weight)
        return table

    def candidates(self, table: RoutingTable, track: str) -> list[tuple[str, Backend]]:
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

    def handle(self, req: Request, respond: Respond) -> None:
        """Route one request; ``respond`` is called exactly once."""
        own = self._own.get(req.path)
        if own is not None and req.method == "GET":
            respond(own())
            return
        if req.path.startswith(c.PATH_INTERNAL_PREFIX):  # pod-to-pod endpoints: not for clients
            respond(_error(404, f"{req.path}: not found"))
            return
        self.inflight += 1

        def answered(resp: Response) -> None:
            self.inflight -= 1
            respond(resp)
            if not self.inflight and self._drained is not None and not self._drained.done():
                self._drained.set_result(None)

        _Forward(self, req, answered).start()

    # --- mirroring ---------------------------------------------------------------------------

    def mirror(
        self, table: RoutingTable, req: Request, headers: list[tuple[bytes, bytes]], stable: bytes
    ) -> None:
        if not table.canary or self._shadow_inflight >= self._shadow_slots:
            return  # no canary, or mirroring saturated: skip rather than queue
        start = self._rr[c.TRACK_CANARY]
        self._rr[c.TRACK_CANARY] = start + 1
        backend = table.canary[start % len(table.canary)]
        self._shadow_inflight += 1

        def done(resp: BackendResponse | None, error: Exception | None) -> None:
            self._shadow_inflight -= 1
            if resp is None or resp.status != 200:
                result = ERROR
            else:
                result = compare_bodies(stable, resp.body)
            self.metrics.shadow[result].inc()

        self.pool.send(backend, _head(req, backend, headers) + req.body, done, req.method == "HEAD")

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


def _head(req: Request, backend: Backend, headers: list[tuple[bytes, bytes]]) -> bytes:
    """Request line and headers for ``backend`` (Host and Content-Length rewritten)."""
    parts = [
        req.method.encode("ascii"),
        b" ",
        req.target,
        b" HTTP/1.1\r\nHost: ",
        backend.host.encode("ascii"),
        b":%d\r\nContent-Length: %d\r\n" % (backend.port, len(req.body)),
    ]
    for k, v in headers:
        parts.extend((k, b": ", v, b"\r\n"))
    parts.append(b"\r\n")
    return b"".join(parts)


def _head_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a backend announced to a HEAD (passed on to the client)."""
    for k, v in headers:
        if k.lower() == b"content-length" and v.strip().isdigit():
            return int(v)
    return None


class _Forward:
    """One proxied request: try the candidates in order until one answers."""

    __slots__ = (
        "candidates",
        "headers",
        "i",
        "req",
        "resent",
        "respond",
        "router",
        "started",
        "table",
        "track",
        "tried",
    )

    def __init__(self, router: Router, req: Request, respond: Respond) -> None:
        self.router, self.req, self.respond = router, req, respond
        self.started = time.perf_counter()
        self.table = router.table()
        key = req.header(router.sticky_header) if router.sticky_header else None
        draw = sticky_bucket(key.decode("latin-1")) if key else router.rng.randrange(10_000)
        self.track = choose_track(self.table.canary_weight, draw)
        self.candidates = router.candidates(self.table, self.track)
        # end-to-end fields only (the front end dropped the rest); a request id when the client
        # sent none, so that a mirrored copy carries the same one (truths find both answers)
        self.headers = req.headers
        if req.header(REQUEST_ID_HEADER) is None:
            self.headers = [*req.headers, (REQUEST_ID_HEADER, b"%s-%x" % (_ID_PREFIX, next(_IDS)))]
        self.tried: list[str] = []
        self.i = 0
        self.resent = False

    def start(self) -> None:
        if not self.candidates:
            self.fail(
                self.track,
                503,
                f"no ready backend for track {self.track} of model "
                f"{self.router.metrics.model} (nor for the other track)",
            )
            return
        self.next()

    def next(self) -> None:
        if self.i >= len(self.candidates):
            log.warning("no backend reachable: %s", "; ".join(self.tried))
            self.fail(
                self.track,
                502,
                f"no backend of model {self.router.metrics.model} "
                f"reachable; tried {', '.join(self.tried)}",
            )
            return
        _, backend = self.candidates[self.i]
        req = self.req
        self.router.pool.send(
            backend, _head(req, backend, self.headers) + req.body, self.done, req.method == "HEAD"
        )

    def done(self, resp: BackendResponse | None, error: Exception | None) -> None:
        used, backend = self.candidates[self.i]
        if isinstance(error, ConnectFailed):  # never sent: safe to try the next backend
            self.tried.append(str(error))
            self.i += 1
            self.next()
            return
        unanswered = isinstance(error, BackendFailed) and not error.answered
        if unanswered and not self.resent and self.i + 1 < len(self.candidates):
            self.resent = True  # closed before answering: once more, elsewhere
            self.router.metrics.resent.inc()
            self.tried.append(str(error))
            self.i += 1
            self.next()
            return
        if resp is None:
            status = 504 if isinstance(error, BackendFailed) and error.timeout else 502
            self.fail(
                used,
                status,
                f"backend {backend.host}:{backend.port} of track {used} failed: {error}",
            )
            return
        router, table = self.router, self.table
        out, _ = end_to_end(resp.headers, _RESPONSE_DROP)
        out.append((TRACK_HEADER, _TRACK_BYTES[used]))
        router.metrics.request(used, resp.status, time.perf_counter() - self.started)
        length = _head_length(resp.headers) if self.req.method == "HEAD" else None
        self.respond(Response(resp.status, resp.body, out, length))
        if (
            table.mirror_percent
            and used == c.TRACK_STABLE
            and resp.status == 200
            and not self.req.path.endswith("/feedback")  # truths are fanned out by the pods
            and router.rng.randrange(100) < table.mirror_percent
        ):
            router.mirror(table, self.req, self.headers, resp.body)

    def fail(self, track: str, status: int, message: str) -> None:
        self.router.metrics.request(track, status, time.perf_counter() - self.started)
        self.respond(_error(status, message, track))
