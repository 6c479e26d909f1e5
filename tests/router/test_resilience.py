"""A backend that dies or closes a connection before answering costs the client nothing (the
request goes once more to another pod); one that broke off mid-answer is a 502, never resent;
a router told to stop answers each open connection's next request with `Connection: close`."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.router.conftest import Procs

BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1]}]}


class RudeBackend:
    """Accepts, reads a request, then closes: with nothing (``reply`` empty) or half an
    answer. Counts the requests it swallowed."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply, self.seen = reply, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    if conn.recv(65536):
                        self.seen += 1
                        conn.sendall(self.reply)
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def rude() -> Iterator[list[RudeBackend]]:
    made: list[RudeBackend] = []
    yield made
    for b in made:
        b.close()


async def _post_many(url: str, n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return [await client.post("/v2/models/m/infer", json=BODY) for _ in range(n)]


async def test_closed_before_answering_goes_once_more_to_another_backend(
    procs: Procs, rude: list[RudeBackend]
) -> None:
    silent = RudeBackend()
    rude.append(silent)
    good, _ = procs.backend("s2")
    url = procs.router(routes=procs.routes([silent.address, good]))
    answers = await _post_many(url, 40)
    assert [r.status_code for r in answers] == [200] * 40
    assert {r.headers["x-backend"] for r in answers} == {"s2"}
    assert silent.seen >= 10, "round robin sent a share to the silent backend first"
    metrics = (await asyncio.to_thread(httpx.get, f"{url}/metrics")).text
    resent = [line for line in metrics.splitlines() if line.startswith("canaria_router_resent")]
    assert resent
    assert float(resent[0].split()[-1]) == silent.seen


async def test_broken_off_mid_answer_is_a_502_and_not_resent(
    procs: Procs, rude: list[RudeBackend]
) -> None:
    half = RudeBackend(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"outp')
    rude.append(half)
    url = procs.router(routes=procs.routes([half.address]))
    answers = await _post_many(url, 3)
    assert [r.status_code for r in answers] == [502] * 3
    assert "closed by backend while answering" in answers[0].json()["error"]
    assert half.seen == 3  # each sent exactly once


async def test_a_backend_killed_mid_request_costs_the_client_nothing(procs: Procs) -> None:
    s1, p1 = procs.backend("s1")
    s2, _ = procs.backend("s2")
    url = procs.router(routes=procs.routes([s1, s2]))
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        # /slow: the backend holds each request 0.5 s; s1 dies while holding its share
        slow = [asyncio.ensure_future(client.post("/slow", json=BODY)) for _ in range(6)]
        await asyncio.sleep(0.2)
        p1.send_signal(signal.SIGKILL)
        answers = await asyncio.gather(*slow)
    assert [r.status_code for r in answers] == [200] * 6
    assert {r.headers["x-backend"] for r in answers} == {"s2"}


async def test_a_stopping_router_tells_keep_alive_clients_to_reconnect(procs: Procs) -> None:
    s, _ = procs.backend("s1")
    url = procs.router(routes=procs.routes([s]))
    router = procs.procs[-1]
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        before = await client.post("/v2/models/m/infer", json=BODY)
        assert before.headers.get("connection") != "close"
        slow = asyncio.ensure_future(client.post("/slow", json=BODY))
        await asyncio.sleep(0.2)
        router.send_signal(signal.SIGTERM)
        during = await slow
    assert during.status_code == 200
    assert during.headers["connection"] == "close"
    assert await asyncio.to_thread(router.wait, 15) == 0
