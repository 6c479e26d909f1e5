"""Router overhead, side by side: wrk -> `canaria serve` directly vs wrk -> `canaria route` ->
the same `canaria serve`, in one run.

    .venv/bin/python bench/router_bench.py [--rounds 5] [--duration 5] [--connections 16]

The backend is a real `canaria serve` (one worker) serving the serving benchmark's ONNX model
(RandomForest(100) on 20 features, built by bench/serving_bench.py's `build_model`), answering
V2 infer requests posted by wrk (Debian package `wrk`, 16 connections, one thread). Direct and
routed runs alternate for ``--rounds`` rounds, so both see the same background load on this
shared machine; the medians are compared. Targets: routed p50 - direct p50 <= 1 ms, routed
throughput >= 70 % of direct. Also prints a run with 10 % canary weight over two backends
and one with 100 % mirroring (shadow comparisons), which cost more by design.

First it prints the front end's own CPU per request, without sockets (``--front-end-only``
stops there): the router's HTTP/1.1 server (httptools/llhttp plus its checks) against h11
parsing and serialising the same pipelined requests, answered at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from serving_bench import (  # noqa: E402  (shared helpers of the serving benchmark)
    Result,
    build_model,
    canaria_cmd,
    free_port,
    run_wrk,
    stop,
    wait_ready,
)


def route_cmd(port: int, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "canaria_operator.cli",
        "route",
        "--model",
        "rf",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *args,
    ]


FRONT_END_REQUESTS = 20_000
PIPELINE = 16  # requests per read, as 16 wrk connections keep in flight


def _front_end_request() -> bytes:
    body = json.dumps(
        {"inputs": [{"name": "X", "shape": [1, 20], "datatype": "FP32", "data": [0.5] * 20}]}
    ).encode()
    head = "POST /v2/models/rf/infer HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


class _Sink:
    """A transport that counts writes."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def __getattr__(self, name: str) -> Any:
        return lambda *a: True


def _router_front_end(chunk: bytes) -> float:
    from canaria_operator.router.wire import Response, ServerProtocol

    answer = Response(200, b'{"outputs": []}', [(b"Content-Type", b"application/json")])
    proto = ServerProtocol(lambda req, respond: respond(answer), 1 << 26)
    sink = _Sink()
    proto.connection_made(sink)  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(FRONT_END_REQUESTS // PIPELINE):
        proto.data_received(chunk)
    elapsed = time.perf_counter() - start
    assert sink.writes == FRONT_END_REQUESTS, sink.writes
    return elapsed


def _h11_front_end(chunk: bytes) -> float:
    import h11

    conn, answered, body = h11.Connection(h11.SERVER), 0, b'{"outputs": []}'
    start = time.perf_counter()
    for _ in range(FRONT_END_REQUESTS // PIPELINE):
        conn.receive_data(chunk)
        while (event := conn.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.EndOfMessage):
                headers = [(b"Content-Type", b"application/json"), (b"Content-Length", b"15")]
                conn.send(h11.Response(status_code=200, headers=headers))
                conn.send(h11.Data(data=body))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                answered += 1
    elapsed = time.perf_counter() - start
    assert answered == FRONT_END_REQUESTS, answered
    return elapsed


def front_end_cost() -> None:
    chunk = _front_end_request() * PIPELINE
    print(f"front end CPU per request ({PIPELINE} pipelined per read, median of 5):")
    for label, run in (("canaria route (httptools + checks)", _router_front_end),
                       ("h11 (parse + serialise only)", _h11_front_end)):  # fmt: skip
        us = statistics.median(run(chunk) for _ in range(5)) / FRONT_END_REQUESTS * 1e6
        print(f"  {label:<44} {us:6.2f} us", flush=True)


def summary(label: str, runs: list[Result]) -> tuple[float, float, float]:
    rps = statistics.median(r.rps for r in runs)
    p50 = statistics.median(r.p50_ms for r in runs)
    p99 = statistics.median(r.p99_ms for r in runs)
    print(f"  {label:<44} {rps:>9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  (median)")
    return rps, p50, p99


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--front-end-only", action="store_true")
    args = ap.parse_args()
    front_end_cost()
    if args.front_end_only:
        return 0
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model, x = build_model(tmp)
        body = json.dumps(
            {
                "inputs": [
                    {
                        "name": "X",
                        "shape": [1, 20],
                        "datatype": "FP32",
                        "data": [round(float(v), 4) for v in x[0]],
                    }
                ]
            }
        )
        try:
            stable, canary, router, mirror = (free_port() for _ in range(4))
            for port, track in ((stable, "stable"), (canary, "canary")):
                procs.append(subprocess.Popen(canaria_cmd(model, port, "--track", track)))
                wait_ready(f"http://127.0.0.1:{port}/readyz", procs[-1])
            procs.append(subprocess.Popen(route_cmd(router, "--stable", f"127.0.0.1:{stable}")))
            wait_ready(f"http://127.0.0.1:{router}/readyz", procs[-1])
            path = "/v2/models/rf/infer"
            print(
                f"wrk -t1 -c{args.connections} -d{args.duration}s, {args.rounds} alternating "
                f"rounds, V2 infer of one row; cpus={os.cpu_count()}",
                flush=True,
            )

            def alternate(connections: int, rounds: int) -> tuple[list[Result], list[Result]]:
                direct: list[Result] = []
                routed: list[Result] = []
                for i in range(rounds):
                    for port, label, runs in (
                        (stable, "direct", direct),
                        (router, "routed", routed),
                    ):
                        runs.append(
                            run_wrk(
                                f"{label} c{connections} #{i + 1}",
                                f"http://127.0.0.1:{port}{path}",
                                body,
                                tmp,
                                duration=args.duration,
                                connections=connections,
                            )
                        )
                return direct, routed

            direct, routed = alternate(args.connections, args.rounds)
            print("results:")
            d_rps, d_p50, _ = summary("canaria serve, direct", direct)
            r_rps, r_p50, _ = summary("canaria route -> canaria serve", routed)
            added, ratio = r_p50 - d_p50, r_rps / d_rps
            print(
                f"  added p50: {added:.2f} ms (target <= 1 ms) {'OK' if added <= 1.0 else 'MISSED'}"
            )
            print(
                f"  throughput ratio: {ratio:.0%} of direct (target >= 70%) "
                f"{'OK' if ratio >= 0.70 else 'MISSED'}"
            )
            # One connection: no queueing, so the difference is the router hop itself.
            direct1, routed1 = alternate(1, 2)
            _, d1, _ = summary("direct, 1 connection", direct1)
            _, r1, _ = summary("routed, 1 connection", routed1)
            print(f"  added p50 with 1 connection (the hop itself): {r1 - d1:.2f} ms")
            procs.append(
                subprocess.Popen(
                    route_cmd(
                        mirror,
                        "--stable",
                        f"127.0.0.1:{stable}",
                        "--canary",
                        f"127.0.0.1:{canary}",
                        "--mirror-percent",
                        "100",
                    )
                )
            )
            wait_ready(f"http://127.0.0.1:{mirror}/readyz", procs[-1])
            run_wrk(
                "routed, 100% mirrored to canary",
                f"http://127.0.0.1:{mirror}{path}",
                body,
                tmp,
                duration=args.duration,
                connections=args.connections,
            )
        finally:
            for proc in procs:
                stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
