"""Process-level behaviour: graceful SIGTERM drain, several workers, payload log, CLI errors."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import orjson
import pytest

from canaria_serving import contract as c
from tests.serving.conftest import Served, start_server, stop_server
from tests.serving.test_metrics import parse, value


def test_sigterm_drains_an_in_flight_request(classifier: Served) -> None:
    url, proc = start_server(classifier.path)
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps({"features": classifier.x[0].tolist()})
    head = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(head + body[:10])  # the request is in flight: half its body has arrived
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None, "the server exited with a request in flight"
            s.sendall(body[10:])
            response = b""
            while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response
        payload = json.loads(response.split(b"\r\n\r\n", 1)[1])
        assert payload["prediction"] == classifier.estimator.predict(classifier.x[:1])[0]
        # uvicorn re-raises the SIGTERM after its graceful shutdown: "terminated by SIGTERM"
        assert proc.wait(15) in (0, -signal.SIGTERM)
        assert b"Traceback" not in (proc.stderr.read() if proc.stderr else b"")
    finally:
        stop_server(proc)


def test_several_workers_share_correct_metrics(classifier: Served) -> None:
    url, proc = start_server(classifier.path, "--workers", "2")
    try:
        row = classifier.x[0].tolist()
        for _ in range(40):  # a new connection each time, so both workers answer some
            assert httpx.post(url + "/predict", json={"features": row}).status_code == 200
        assert httpx.post(url + "/predict", json={"features": [1]}).status_code == 400
        # each worker publishes its counts at least once a second (and on scrapes it answers)
        time.sleep(1.5)
        for _ in range(4):  # whichever worker answers the scrape, the totals are the same
            samples = parse(httpx.get(url + c.PATH_METRICS).text)
            assert value(samples, f"{c.M_REQUESTS}_total", protocol="predict", code="200") == 40
            assert value(samples, f"{c.M_REQUESTS}_total", protocol="predict", code="400") == 1
            assert value(samples, f"{c.M_BATCH_SIZE}_count") == 40  # warm-up is not counted
            assert value(samples, c.M_MODEL_READY) == 1
        promtool = shutil.which("promtool")
        if promtool is not None:  # the aggregated multiprocess output is valid too
            text = httpx.get(url + c.PATH_METRICS).text
            check = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert check.returncode == 0, check.stdout + check.stderr
    finally:
        stop_server(proc)


def test_payload_log_records_sampled_requests(classifier: Served) -> None:
    row = classifier.x[3].tolist()
    r = httpx.post(
        classifier.url + "/predict", json={"features": row}, headers={"x-request-id": "trace-42"}
    )
    assert r.status_code == 200
    log = classifier.extra["log"]
    deadline = time.monotonic() + 10
    record = None
    while record is None and time.monotonic() < deadline:
        if log.exists():
            for line in log.read_text().splitlines():
                entry = json.loads(line)
                if entry["request_id"] == "trace-42":
                    record = entry
        time.sleep(0.1)
    assert record is not None, "no payload-log record for the request"
    assert (record["model"], record["version"], record["track"]) == ("clf", "3", "canary")
    assert record["protocol"] == "predict"
    assert record["inputs"] == [pytest.approx(row)]
    assert record["outputs"]["label"] == [r.json()["prediction"]]
    assert record["timestamp"].endswith("Z")


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "canaria_operator.cli", "serve", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_cli_rejects_bad_settings_clearly() -> None:
    r = _serve("/nonexistent.onnx")
    assert r.returncode == 2
    assert "model file not found: /nonexistent.onnx" in r.stderr
    r = _serve("/nonexistent.onnx", "--port", "99999")
    assert r.returncode == 2
    assert "port" in r.stderr
    r = _serve(env={"PATH": "/usr/bin"})
    assert r.returncode == 2
    assert "model_path" in r.stderr
