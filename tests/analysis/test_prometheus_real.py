"""PrometheusProvider + run_analysis against a REAL Prometheus process.

Prometheus scrapes two metrics endpoints on 127.0.0.1 that expose the serving metrics with
the real ``canaria_serving.metrics.ServingMetrics`` (one "stable" pod, one "canary" pod), while
the test drives their counters like traffic would. Then the checks query Prometheus' HTTP API.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from prometheus_client import start_http_server

from canaria_operator.analysis import (
    AnalysisConfig,
    CustomMetric,
    PrometheusProvider,
    Target,
    Verdict,
    run_analysis,
)

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

W = timedelta(seconds=12)


def prometheus_binary() -> str | None:
    cached = sorted(
        glob.glob(os.path.expanduser("~/.cache/canaria/testbin/prometheus-*/prometheus"))
    )
    return cached[-1] if cached else shutil.which("prometheus")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pods:
    stable: object
    canary: object
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    binary = prometheus_binary()
    if binary is None:
        pytest.skip("no prometheus binary (~/.cache/canaria/testbin or PATH)")
    from canaria_serving.metrics import ServingMetrics

    tmp = tmp_path_factory.mktemp("prom")
    tracks = {}
    targets = []
    for track, version in (("stable", "v1"), ("canary", "v2")):
        m = ServingMetrics(
            "iris", version, track, sha256="0" * 64, classes=["0", "1", "2"], features=["f0"]
        )
        port = free_port()
        server, thread = start_http_server(port, addr="127.0.0.1", registry=m.registry)
        tracks[track] = (m, server, thread)
        targets.append(f"127.0.0.1:{port}")
    web = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: serving\n    static_configs: [{{targets: {targets}}}]\n"
    )
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    yield Pods(tracks["stable"][0], tracks["canary"][0], f"http://127.0.0.1:{web}", proc)
    proc.terminate()
    proc.wait(10)
    log.close()
    for _, server, thread in tracks.values():
        server.shutdown()
        server.server_close()
        thread.join(5)


async def wait_ready(url: str) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{url}/-/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("prometheus did not become ready")


def serve(m: object, n: int, errors: int, latency: float, classes: list[int]) -> None:
    for i in range(n):
        m.request("v2", 500 if i < errors else 200)  # type: ignore[attr-defined]
        m.request_duration["v2"].observe(latency)  # type: ignore[attr-defined]
    m.observe_classes(np.array(classes))  # type: ignore[attr-defined]
    m.input_rows.inc(n)  # type: ignore[attr-defined]
    m.flush()  # type: ignore[attr-defined]  # the server flushes its hot-path buffers like this


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traffic(pods: Pods) -> AsyncIterator[Pods]:
    """~14 s of traffic: canary 10% errors, 3x slower, predicting mostly class 0, its inputs
    drifted (PSI 0.4 on f0; the stable's drift is NaN: the server has not measured it)."""
    await wait_ready(pods.url)
    pods.canary.drift[0].set(0.4)  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    for _ in range(28):
        serve(pods.stable, 40, 0, 0.002, rng.integers(0, 3, 40).tolist())
        serve(pods.canary, 40, 4, 0.009, [0] * 36 + [1, 2, 1, 2])
        await asyncio.sleep(0.5)
    yield pods


CFG = AnalysisConfig(
    min_requests=50, max_error_rate=0.05, max_latency_ratio=2.0, max_prediction_psi=0.2
)


async def test_real_prometheus_judges_a_bad_canary(traffic: Pods) -> None:
    async with PrometheusProvider(traffic.url) as p:
        results = await run_analysis(
            p,
            CFG,
            Target("iris", "v2", "canary"),
            Target("iris", "v1", "stable"),
            window=W,
            at=datetime.now(UTC),
        )
    by = {r.metric: r for r in results}
    assert by["error-rate"].verdict is Verdict.FAILED, by["error-rate"].message
    assert by["error-rate"].value == pytest.approx(0.10, abs=0.02)
    assert by["error-rate"].samples is not None
    assert by["error-rate"].samples > 200
    assert by["latency-p99"].verdict is Verdict.FAILED, by["latency-p99"].message
    assert by["prediction-drift"].verdict is Verdict.FAILED, by["prediction-drift"].message


async def test_real_prometheus_stable_vs_itself_passes(traffic: Pods) -> None:
    stable = Target("iris", "v1", "stable")
    async with PrometheusProvider(traffic.url) as p:
        results = await run_analysis(p, CFG, stable, stable, window=W, at=datetime.now(UTC))
    assert [r.verdict for r in results] == [Verdict.SUCCESSFUL] * 3, results


async def test_real_prometheus_missing_and_broken_queries(traffic: Pods) -> None:
    cfg = AnalysisConfig(
        max_latency_ratio=None,
        max_prediction_psi=None,
        custom=(
            CustomMetric(name="broken", query="sum(rate(x[{{interval}}]", max=1),
            CustomMetric(name="empty", query='up{job="nope"}', max=1),
        ),
    )
    async with PrometheusProvider(traffic.url) as p:
        results = await run_analysis(
            p,
            cfg,
            Target("iris", "v9", "canary"),
            Target("iris", "v1", "stable"),
            window=W,
            at=datetime.now(UTC),
        )
    by = {r.metric: r for r in results}
    assert by["error-rate"].verdict is Verdict.INCONCLUSIVE  # no traffic for v9
    assert by["broken"].verdict is Verdict.ERROR
    assert "bad_data" in by["broken"].message
    assert by["empty"].verdict is Verdict.INCONCLUSIVE


async def test_prometheus_down_is_inconclusive(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with PrometheusProvider(url, timeout=1) as p:
        results = await run_analysis(
            p, CFG, Target("iris", "v2"), Target("iris", "v1"), window=W, at=datetime.now(UTC)
        )
    assert {r.verdict for r in results} == {Verdict.INCONCLUSIVE}
    assert all("unreachable" in r.message for r in results)


async def test_real_prometheus_judges_input_drift(traffic: Pods) -> None:
    cfg = AnalysisConfig(
        min_requests=50,
        max_error_rate=None,
        error_rate_alpha=None,
        max_latency_ratio=None,
        max_input_drift=0.25,
    )
    canary, stable = Target("iris", "v2", "canary"), Target("iris", "v1", "stable")
    async with PrometheusProvider(traffic.url) as p:
        at = datetime.now(UTC)
        (drifted,) = await run_analysis(p, cfg, canary, stable, window=W, at=at)
        (unmeasured,) = await run_analysis(p, cfg, stable, stable, window=W, at=at)
        relaxed = cfg.model_copy(update={"max_input_drift": 0.5})
        (within,) = await run_analysis(p, relaxed, canary, stable, window=W, at=at)
    assert drifted.metric == "input-drift"
    assert drifted.verdict is Verdict.FAILED, drifted.message
    assert drifted.value == pytest.approx(0.4)
    assert drifted.samples is not None
    assert drifted.samples > 200
    assert unmeasured.verdict is Verdict.INCONCLUSIVE, unmeasured.message
    assert "no input drift data" in unmeasured.message
    assert within.verdict is Verdict.SUCCESSFUL, within.message
