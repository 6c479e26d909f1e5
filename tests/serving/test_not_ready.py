"""Before the model has loaded and warmed up: ready endpoints and inference answer 503."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from canaria_serving.server import create_app
from canaria_serving.settings import ServeSettings


async def test_not_ready_before_startup(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not loaded yet")
    # no lifespan here: the app is in the state of a pod whose model is still loading
    app = create_app(ServeSettings(model_path=model))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://canaria") as client:
        assert (await client.get("/healthz")).status_code == 200
        for path in ("/readyz", "/v2/health/ready", "/v2/models/m/ready", "/metrics"):
            r = await client.get(path)
            assert r.status_code == 503, path
            assert "error" in r.json()
        r = await client.post("/predict", json={"features": [1.0]})
        assert r.status_code == 503
        assert "still loading" in r.json()["error"]
        r = await client.post("/v2/models/m/infer", json={"inputs": []})
        assert r.status_code == 503


def test_unloadable_model_fails_clearly(tmp_path: Path) -> None:
    from canaria_serving.runtime.model import ModelLoadError, load_model

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match=r"cannot load .*bad\.onnx as an ONNX model"):
        load_model(bad)
