"""The router and ground truth (real processes on 127.0.0.1): request ids assigned so that
a mirrored copy carries the client's, feedback never mirrored, pod-to-pod paths refused, and
payload-log records replayed to the canary at the rate the table says."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
import pytest

from canaria_serving import contract
from tests.router.conftest import Procs, free_port, wait_http
from tests.router.recorder import Recorder

IRIS = Path(__file__).resolve().parents[2] / "examples" / "models" / "iris-v1.onnx"
BODY = {
    "inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]
}


def _ids(rec: Recorder) -> list[str]:
    time.sleep(0.3)
    seen, _ = rec.snapshot()
    return [
        s.header(contract.HEADER_REQUEST_ID)[0]
        for s in seen
        if s.header(contract.HEADER_REQUEST_ID)
    ]


@pytest.fixture
def mirrored(procs: Procs) -> tuple[str, Recorder, Recorder]:
    stable, canary = Recorder(), Recorder()
    url = procs.router(routes=procs.routes([stable.address], [canary.address], mirror=100))
    return url, stable, canary


def test_a_mirrored_copy_carries_the_request_id_of_the_original(
    mirrored: tuple[str, Recorder, Recorder],
) -> None:
    url, stable, canary = mirrored
    for _ in range(3):
        assert httpx.post(f"{url}/v2/models/m/infer", json=BODY).status_code == 200
    httpx.post(f"{url}/v2/models/m/infer", json=BODY, headers={"X-Request-Id": "client-7"})
    assigned = _ids(stable)
    assert len(set(assigned)) == 4
    assert assigned[-1] == "client-7"  # the client's own id is kept
    assert _ids(canary) == assigned  # the copies carry the same ids


def test_feedback_is_not_mirrored_and_pod_paths_are_refused(
    mirrored: tuple[str, Recorder, Recorder],
) -> None:
    url, stable, canary = mirrored
    fb = httpx.post(f"{url}{contract.v2_feedback_path('m')}", json={"feedback": []})
    assert fb.status_code == 200  # the recorder answers everything
    inner = httpx.get(f"{url}{contract.PATH_INTERNAL_PAYLOADS}")
    assert inner.status_code == 404
    assert "not found" in inner.json()["error"]
    assert httpx.post(f"{url}{contract.PATH_INTERNAL_FEEDBACK}", json={}).status_code == 404
    time.sleep(0.3)
    assert [s.target for s in stable.snapshot()[0]] == [contract.v2_feedback_path("m")]
    assert canary.snapshot()[0] == []


def _serve(procs: Procs, *args: str) -> str:
    import subprocess
    import sys

    port = free_port()
    cmd = [sys.executable, "-m", "canaria_operator.cli", "serve", str(IRIS)]
    proc = subprocess.Popen([*cmd, "--host", "127.0.0.1", "--port", str(port), *args])
    procs.procs.append(proc)
    wait_http(f"http://127.0.0.1:{port}{contract.PATH_READY}", proc, timeout=60)
    return f"127.0.0.1:{port}"


def _metric(url: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_payload_log_records_are_replayed_to_the_canary(procs: Procs, tmp_path: Path) -> None:
    stable = _serve(procs, "--payload-log", str(tmp_path / "p.jsonl"))
    canary = _serve(procs, "--track", "canary")
    routes = tmp_path / "routes.json"
    table = {"stable": [stable], "canary": [canary], "canaryWeight": 0, "mirrorPercent": 0}
    routes.write_text(json.dumps({**table, "replayRps": 0}))
    url = procs.router(routes=routes)
    for i in range(8):
        body = {**BODY, "id": f"r-{i}"}
        assert httpx.post(f"{url}/v2/models/iris/infer", json=body).status_code == 200
    time.sleep(1.5)
    assert _metric(f"http://{canary}", "canaria_requests_total") == 0  # nothing mirrored
    tmp = tmp_path / "routes.tmp"
    tmp.write_text(json.dumps({**table, "replayRps": 4}))
    os.replace(tmp, routes)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _metric(url, "canaria_router_replayed_total") < 8:
        time.sleep(0.5)
    assert _metric(url, "canaria_router_replayed_total", result="agree") >= 8
    assert _metric(url, "canaria_shadow_comparisons_total", result="agree") >= 8
    assert _metric(f"http://{canary}", "canaria_requests_total", code="200") >= 8
    assert _metric(url, "canaria_router_requests_total", track="canary") == 0  # no client's


def test_the_replay_rate_comes_from_status() -> None:
    from canaria_operator.router.kube_source import build_table

    md = {"status": {"stable": {"version": "1"}, "rollout": {"replayRps": 2.5}}}
    assert build_table([], md, 8080).replay_rps == 2.5
    assert build_table([], {"status": {}}, 8080).replay_rps == 0.0
