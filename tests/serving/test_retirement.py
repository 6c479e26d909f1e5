"""Retirement notices from a real `canaria serve` process, read with a real HTTP client:
every response carries Deprecation (RFC 9745) and Sunset (RFC 8594); the V2 metadata says so;
without CANARIA_SUNSET nothing is added."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from tests.serving.conftest import start_server, stop_server

EXAMPLE = Path(__file__).parents[2] / "examples" / "models" / "iris-v1.onnx"
ROW = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}


def test_deprecation_and_sunset_on_every_response() -> None:
    sunset = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    deprecated = datetime(2030, 6, 1, tzinfo=UTC)
    env = {"CANARIA_SUNSET": sunset.isoformat(), "CANARIA_DEPRECATED_AT": deprecated.isoformat()}
    url, proc = start_server(EXAMPLE, "--name", "iris", env=env)
    try:
        with httpx.Client(base_url=url, timeout=10) as c:
            answers = [
                c.post("/v2/models/iris/infer", json=ROW),  # the fast path
                c.get("/v2/models/iris"),  # FastAPI
                c.get("/v2/models/iris/versions/1"),
                c.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}),
                c.get("/v2/models/nope"),  # errors too
                c.get("/healthz"),
            ]
            for resp in answers:
                assert resp.headers["deprecation"] == f"@{int(deprecated.timestamp())}", resp.url
                assert parsedate_to_datetime(resp.headers["sunset"]) == sunset
            assert answers[0].status_code == 200
            assert answers[4].status_code == 404
            for meta in answers[1:3]:
                doc = meta.json()
                assert doc["name"] == "iris"
                assert doc["parameters"] == {
                    "deprecated": True,
                    "sunset": sunset.isoformat(),
                    "deprecation": deprecated.isoformat(),
                }
                assert int(meta.headers["content-length"]) == len(meta.content)
    finally:
        stop_server(proc)


def test_no_notice_without_sunset() -> None:
    url, proc = start_server(EXAMPLE, "--name", "iris")
    try:
        resp = httpx.get(f"{url}/v2/models/iris", timeout=10)
        assert "sunset" not in resp.headers
        assert "deprecation" not in resp.headers
        assert "parameters" not in resp.json()
    finally:
        stop_server(proc)
