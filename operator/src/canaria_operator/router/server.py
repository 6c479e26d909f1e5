"""Process entry of ``canaria route``: logging, the backend source, the aiohttp server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from canaria_operator.router.metrics import RouterMetrics
from canaria_operator.router.proxy import Router
from canaria_operator.router.replay import Replayer
from canaria_operator.router.sources import BackendSource, StaticSource
from canaria_operator.router.table import Backend, RoutingTable
from canaria_operator.router.wire import Connections, ServerProtocol

__all__ = ["make_source", "run_router", "serve"]

log = logging.getLogger("canaria.router")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def make_source(args: argparse.Namespace, metrics: RouterMetrics) -> BackendSource:
    """The source the flags ask for; ValueError names a bad flag."""
    if args.kubernetes:
        from canaria_operator.router.kube_source import KubernetesSource

        return KubernetesSource(args.namespace, args.model, args.backend_port, args.kubeconfig)
    if args.routes is not None:
        if args.stable or args.canary:
            raise ValueError("--routes cannot be combined with --stable/--canary")
        return StaticSource(path=args.routes)
    if not args.stable and not args.canary:
        raise ValueError("give backends: --stable HOST:PORT, --routes FILE or --kubernetes")
    table = RoutingTable(
        stable=tuple(Backend.parse(x) for x in args.stable),
        canary=tuple(Backend.parse(x) for x in args.canary),
        canary_weight=args.canary_weight,
        mirror_percent=args.mirror_percent,
    )
    return StaticSource(table)


async def run_router(
    router: Router, host: str, port: int, max_body: int, drain_seconds: float = 10.0
) -> None:
    """Serve until SIGTERM/SIGINT or cancellation (the source's watch runs alongside).

    On a signal (the pod's preStop sleep has let the Service's endpoints drop this replica by
    then): stop accepting connections, answer each open connection's next request with
    ``Connection: close``, let requests in flight finish, and return once every connection has
    closed or ``drain_seconds`` are up.
    """
    loop = asyncio.get_running_loop()
    connections = Connections()
    server = await loop.create_server(
        lambda: ServerProtocol(router.handle, max_body, connections), host, port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    source_task = asyncio.ensure_future(router.source.run())
    replay_task = asyncio.ensure_future(Replayer(router).run())  # idle unless status asks
    stop_task = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({source_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if source_task.done():
            source_task.result()  # a crashed source is fatal: raise its error
        log.info(
            "stopping: %d connection(s) open, %d request(s) in flight",
            len(connections.open),
            router.inflight,
        )
        server.close()
        connections.drain()
        started = loop.time()
        await router.drain(drain_seconds)
        await connections.closed(max(0.0, drain_seconds - (loop.time() - started)))
    finally:
        stop_task.cancel()
        source_task.cancel()
        replay_task.cancel()
        server.close()
        await router.close()


def serve(args: argparse.Namespace) -> int:
    import uvloop

    _logging(args.log_format, args.log_level)
    metrics = RouterMetrics(args.model)
    try:
        source = make_source(args, metrics)
    except (ValueError, OSError) as exc:
        print(f"canaria route: {exc}", file=sys.stderr)
        return 2
    router = Router(source, metrics, sticky_header=args.sticky_header, timeout=args.timeout)
    log.info("routing %s on %s:%d", args.model, args.host, args.port)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(run_router(router, args.host, args.port, args.max_body))
    return 0
