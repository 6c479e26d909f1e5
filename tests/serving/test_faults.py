"""The batcher, the metrics and the payload log can never take the server down or hang a request.

Each test breaks one of them on purpose (kills the batching loop, makes its work fail, makes
a model call hang, makes metrics or logging raise) and shows the requests concerned get a
clear JSON error while every other request is still answered.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import helper

from canaria_serving.runtime.batcher import BatcherStopped
from tests.serving.inprocess import serve, tensor
from tests.serving.onnx_models import io, save

W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], np.float32)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """x [N, 3] @ w -> y [N, 2]: a shared batch dimension, so micro-batching is on."""
    return save(
        tmp_path / "lin.onnx",
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [io("x", "FP32", ["N", 3])],
        [io("y", "FP32", ["N", 2])],
        initializers=[W],
        names=["w"],
    )


def body(row: list[float]) -> dict[str, Any]:
    return {"inputs": [tensor("x", "FP32", [1, 3], row)]}


def answer(row: list[float]) -> list[float]:
    result: list[float] = (np.asarray(row, np.float32) @ W).tolist()
    return result


async def test_killed_batching_loop_fails_its_waiting_requests_and_restarts(model: Path) -> None:
    async with serve(model) as (client, service):
        batcher = service.batcher
        assert batcher is not None
        feeds = {"x": np.ones((1, 3), np.float32)}
        waiting = [asyncio.ensure_future(batcher.submit(feeds, 1)) for _ in range(3)]
        await asyncio.sleep(0)  # queued
        batcher._task.cancel()  # kill the loop with requests in it
        results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 5)
        for result in results:  # failed by the kill (a 503 over HTTP), never left hanging
            assert isinstance(result, BatcherStopped), result
        rows = [[float(i), 1.0, 2.0] for i in range(20)]
        replies = await asyncio.gather(
            *(client.post("/v2/models/lin/infer", json=body(r)) for r in rows)
        )
        for row, r in zip(rows, replies, strict=True):
            assert r.status_code == 200, r.text
            assert r.json()["outputs"][0]["data"] == answer(row)
        assert batcher.restarts == 1
        assert (await client.get("/v2/health/ready")).status_code == 200


async def test_a_failing_stacked_call_fails_only_the_request_that_broke_it(model: Path) -> None:
    async with serve(model) as (client, service):
        batcher = service.batcher
        assert batcher is not None
        real = batcher._run
        stacked: list[int] = []

        def run(feeds: dict[str, np.ndarray]) -> tuple[list[Any], float]:
            stacked.append(len(feeds["x"]))
            if (feeds["x"] == 999).any():
                raise RuntimeError("poisoned row")
            return real(feeds)

        batcher._run = run
        rows = [[float(i), 0.0, 1.0] for i in range(6)]
        rows[3] = [999.0, 0.0, 0.0]
        calls = [batcher.submit({"x": np.asarray([r], np.float32)}, 1) for r in rows]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert stacked[0] == 6  # one stacked call held all six rows, and failed
        for i, (row, result) in enumerate(zip(rows, results, strict=True)):
            if i == 3:
                assert isinstance(result, RuntimeError)
            else:
                assert isinstance(result, tuple), result
                np.testing.assert_array_equal(result[0][0], [answer(row)])
        # the same over HTTP: the poisoned request is a 500 with a JSON error, others 200
        replies = await asyncio.gather(
            *(client.post("/v2/models/lin/infer", json=body(r)) for r in rows)
        )
        assert [r.status_code for r in replies] == [200, 200, 200, 500, 200, 200]
        assert replies[3].json() == {"error": "internal error: RuntimeError"}
        assert (await client.get("/readyz")).status_code == 200


@pytest.mark.parametrize("batching", [True, False], ids=["batched", "worker-thread"])
async def test_a_hanging_model_call_gets_a_503_and_readiness_turns_false(
    model: Path, batching: bool
) -> None:
    settings = {"inline_rows": 0, "request_timeout_s": 0.3}
    if not batching:
        settings["max_batch_size"] = 1
    release = threading.Event()
    async with serve(model, **settings) as (client, service):
        rt = service.runtime
        real = rt.run if batching else rt.run_large

        def hang(feeds: dict[str, np.ndarray], names: Any = None) -> tuple[list[Any], float]:
            if (feeds["x"] == 777).any():
                release.wait(20)
            return real(feeds)

        if batching:
            assert service.batcher is not None
            service.batcher._run = hang
        else:
            assert service.batcher is None
            rt.run_large = hang
        try:
            stuck = await asyncio.wait_for(
                client.post("/v2/models/lin/infer", json=body([777.0, 0, 0])), 10
            )
            assert stuck.status_code == 503
            assert "has not answered within 0.3 s" in stuck.json()["error"]
            assert (await client.get("/v2/health/ready")).status_code == 503
            assert not service.ready
        finally:
            release.set()
        for _ in range(100):  # the stuck call returns: ready again
            if service.ready:
                break
            await asyncio.sleep(0.05)
        assert (await client.get("/v2/health/ready")).status_code == 200
        r = await client.post("/v2/models/lin/infer", json=body([1.0, 1.0, 1.0]))
        assert r.status_code == 200, r.text


async def test_broken_metrics_and_payload_log_never_fail_a_request(
    model: Path, tmp_path: Path
) -> None:
    log = tmp_path / "payload.jsonl"
    async with serve(model, payload_log_path=log) as (client, service):
        assert service.metrics is not None
        assert service.payload is not None

        def broken(values: np.ndarray) -> None:
            raise ValueError("metrics bug")

        service.metrics.observe_values = broken  # type: ignore[method-assign]
        r = await client.post("/v2/models/lin/infer", json=body([1.0, 2.0, 3.0]))
        assert r.status_code == 200, r.text
        # a record the writer cannot serialize is dropped and counted; the writer goes on
        service.payload.record("bad", "v2", {"x": object()}, {})
        service.payload.record("good", "v2", {"x": [1]}, {})
        for _ in range(100):
            if log.exists() and "good" in log.read_text():
                break
            await asyncio.sleep(0.02)
        ids = [json.loads(line)["request_id"] for line in log.read_text().splitlines()]
        assert "good" in ids
        assert "bad" not in ids
        assert service.payload.dropped == 1
        assert (await client.get("/metrics")).status_code == 200
