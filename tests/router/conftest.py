"""Real processes on 127.0.0.1: stand-in backends and `canaria route` itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.router.rawhttp import parse, request, talk
from tests.router.recorder import Recorder, Seen

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not up after {timeout}s")


@dataclass
class Procs:
    tmp: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def backend(self, name: str, label: int = 1) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "backend.py"), str(port), name, str(label)]
        )
        self.procs.append(proc)
        wait_http(f"http://127.0.0.1:{port}/readyz", proc)
        return f"127.0.0.1:{port}", proc

    def routes(
        self,
        stable: list[str],
        canary: list[str] | None = None,
        weight: int = 0,
        mirror: int = 0,
    ) -> Path:
        path = self.tmp / "routes.json"
        tmp = self.tmp / "routes.json.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "stable": list(stable),
                    "canary": list(canary or []),
                    "canaryWeight": weight,
                    "mirrorPercent": mirror,
                }
            )
        )
        os.replace(tmp, path)  # atomic: the router never sees half a file
        return path

    def router(self, *args: str, routes: Path | None = None, ready: bool = True) -> str:
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "canaria_operator.cli",
            "route",
            "--model",
            "m",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *args,
        ]
        if routes is not None:
            cmd += ["--routes", str(routes)]
        proc = subprocess.Popen(cmd)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", proc)
        if ready:
            wait_http(f"{url}/readyz", proc)
        return url

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    yield p
    p.stop()


# --- the wire suite: one `canaria route` in front of a recording backend, per module ---------

EDGE_MAX_BODY = 65536


@dataclass
class Edge:
    """`canaria route` (``port``) in front of a recording backend (``backend``)."""

    port: int
    backend: Recorder

    def seen(self, settle: float = 0.05) -> list[Seen]:
        """What the backend received since the test began (after ``settle`` seconds, so a
        request the router sent late is not missed); no framing violation allowed."""
        time.sleep(settle)
        seen, violations = self.backend.snapshot()
        assert violations == [], violations
        return seen


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    rec = Recorder()
    p = Procs(tmp_path_factory.mktemp("edge"))
    try:
        url = p.router("--max-body", str(EDGE_MAX_BODY), routes=p.routes([rec.address]))
        yield Edge(int(url.rsplit(":", 1)[1]), rec)
    finally:
        p.stop()
        rec.close()


@pytest.fixture
def edge(edge_server: Edge) -> Iterator[Edge]:
    """The module's router, its backend's record cleared; afterwards a fresh request must get
    its own answer (a stale response left on a pooled backend connection would show here)."""
    edge_server.backend.reset()
    yield edge_server
    raw = talk(edge_server.port, request("GET", "/after-test", close=True))
    (reply,) = parse(raw)
    assert reply.status == 200, reply
    assert reply.json()["target"] == "/after-test", reply.json()
