"""`canaria route` as a real process in front of real backend processes (all on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections import Counter

import httpx
import pytest

from tests.router.conftest import Procs

pytestmark = pytest.mark.slow
BODY = {"inputs": [{"name": "X", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}
INFER = "/v2/models/m/infer"


async def blast(
    url: str, n: int, concurrency: int = 16, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    """n POSTs with `concurrency` workers; every response (or the exception) is kept."""
    out: list[httpx.Response] = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def worker(k: int) -> None:
            for _ in range(k):
                out.append(await client.post(INFER, json=BODY, headers=headers))

        per = n // concurrency
        await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    return out


def tracks(responses: list[httpx.Response]) -> Counter[str]:
    return Counter(r.headers["x-canaria-track"] for r in responses)


async def test_weight_split_within_tolerance(procs: Procs) -> None:
    s, _ = procs.backend("s1")
    c, _ = procs.backend("c1")
    url = procs.router(routes=procs.routes([s], [c], weight=30))
    responses = await blast(url, 2000)
    assert {r.status_code for r in responses} == {200}
    share = tracks(responses)["canary"] / len(responses)
    # binomial sd = sqrt(.3*.7/2000) = 1.0 %: 4.5 points is > 4 sd
    assert abs(share - 0.30) < 0.045, share
    assert {r.headers["x-backend"] for r in responses} == {"s1", "c1"}


async def test_weight_changes_mid_traffic_without_failures(procs: Procs) -> None:
    s, _ = procs.backend("s1")
    c, _ = procs.backend("c1")
    routes = procs.routes([s], [c], weight=0)
    url = procs.router(routes=routes)
    results: list[tuple[float, httpx.Response]] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            while not stop.is_set():
                results.append((time.monotonic(), await client.post(INFER, json=BODY)))

    workers = [asyncio.ensure_future(traffic()) for _ in range(8)]
    changes = []
    for weight in (50, 100, 0, 100):
        await asyncio.sleep(1.5)
        procs.routes([s], [c], weight=weight)
        changes.append((time.monotonic(), weight))
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*workers)
    assert len(results) > 200
    assert [r.status_code for _, r in results if r.status_code != 200] == []
    # each weight applies within 1 s of the change: look at the window 1.0-1.5 s after it
    for at, weight in changes:
        window = [r for t, r in results if at + 1.0 <= t < at + 1.5]
        share = tracks(window)["canary"] / len(window)
        expected = weight / 100
        assert abs(share - expected) < (0.2 if weight == 50 else 0.001), (weight, share)


async def test_killed_backend_is_retried_on_another_pod(procs: Procs) -> None:
    s1, p1 = procs.backend("s1")
    s2, _ = procs.backend("s2")
    url = procs.router(routes=procs.routes([s1, s2]))
    first = await blast(url, 64, concurrency=4)
    assert {r.headers["x-backend"] for r in first} == {"s1", "s2"}
    p1.send_signal(signal.SIGKILL)
    p1.wait()
    after = await blast(url, 200, concurrency=4)
    assert [r.status_code for r in after] == [200] * 200
    assert {r.headers["x-backend"] for r in after} == {"s2"}


async def test_sticky_header_keeps_each_user_on_one_track(procs: Procs) -> None:
    s, _ = procs.backend("s1")
    c, _ = procs.backend("c1")
    url = procs.router("--sticky-header", "X-User", routes=procs.routes([s], [c], weight=50))
    seen: dict[str, set[str]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for user in range(60):
            for _ in range(5):
                r = await client.post(INFER, json=BODY, headers={"X-User": f"user-{user}"})
                seen.setdefault(f"user-{user}", set()).add(r.headers["x-canaria-track"])
    assert all(len(t) == 1 for t in seen.values())
    per_track = Counter(next(iter(t)) for t in seen.values())
    assert per_track["canary"] >= 15
    assert per_track["stable"] >= 15


async def shadow_counts(url: str) -> dict[str, float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("canaria_shadow_comparisons_total{"):
            result = line.split('result="')[1].split('"')[0]
            out[result] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.mark.parametrize(("canary_label", "expected"), [(1, "agree"), (0, "disagree")])
async def test_shadow_mirrors_and_compares(procs: Procs, canary_label: int, expected: str) -> None:
    s, _ = procs.backend("s1", label=1)
    c, _ = procs.backend("c1", label=canary_label)
    url = procs.router(routes=procs.routes([s], [c], weight=0, mirror=100))
    responses = await blast(url, 200, concurrency=4)
    assert set(tracks(responses)) == {"stable"}  # clients only ever see stable answers
    await asyncio.sleep(0.5)
    counts = await shadow_counts(url)
    assert counts.get(expected, 0) >= 190, counts
    other = "disagree" if expected == "agree" else "agree"
    assert counts.get(other, 0) == 0


def test_clear_errors(procs: Procs) -> None:
    # no backend at all: 503 naming the track; not ready
    url = procs.router(routes=procs.routes([], []), ready=False)
    r = httpx.post(f"{url}{INFER}", json=BODY)
    assert r.status_code == 503
    assert "no ready backend for track stable" in r.json()["error"]
    assert httpx.get(f"{url}/readyz").status_code == 503
    # backends that refuse connections: 502 naming them
    dead = "127.0.0.1:1"
    url = procs.router(routes=procs.routes([dead]))
    r = httpx.post(f"{url}{INFER}", json=BODY)
    assert r.status_code == 502
    assert dead in r.json()["error"]
    # malformed HTTP: 400 JSON; body over --max-body: 413 JSON
    s, _ = procs.backend("s1")
    url = procs.router("--max-body", "1000", routes=procs.routes([s]))
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        raw = sock.recv(4096)
    assert raw.startswith(b"HTTP/1.1 400")
    assert b'"error"' in raw
    r = httpx.post(f"{url}{INFER}", content=b"x" * 5000)
    assert r.status_code == 413
    assert "larger than 1000 bytes" in r.json()["error"]


def test_bad_flags_are_refused(procs: Procs) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "canaria_operator.cli",
            "route",
            "--model",
            "m",
            "--stable",
            "nonsense",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "expected host:port" in out.stderr


async def test_sigterm_drains_requests_in_flight(procs: Procs) -> None:
    s, _ = procs.backend("s1")
    url = procs.router(routes=procs.routes([s]))
    router = procs.procs[-1]
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        slow = asyncio.ensure_future(client.post("/slow", json=BODY))  # backend sleeps 0.5 s
        await asyncio.sleep(0.2)
        router.send_signal(signal.SIGTERM)
        r = await slow
    assert r.status_code == 200
    assert r.headers["x-backend"] == "s1"
    assert await asyncio.to_thread(router.wait, 10) == 0
