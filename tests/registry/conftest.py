"""A real `mlflow server` on 127.0.0.1 (SQLite, artifact proxy) with a few registered
versions, for the registry client, the resolver and the directory fetch."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from canaria_serving.packaging.register import Registered, register_onnx
from tests.e2e.models import slow_variant
from tests.e2e.tracking import TrackingServer

EXAMPLES = Path(__file__).parents[2] / "examples" / "models"


@dataclass(frozen=True)
class Registry:
    server: TrackingServer
    v1: Registered  # iris-v1, one small model.onnx
    v2: Registered  # v2 graph with 1 MB of weights: saved as external data by MLflow

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    tmp = tmp_path_factory.mktemp("mlflow")
    server = TrackingServer(None, "127.0.0.1", tmp / "server").start()
    try:
        v1 = register_onnx(EXAMPLES / "iris-v1.onnx", "iris", server.url)
        heavy = tmp / "iris-heavy.onnx"
        heavy.write_bytes(slow_variant((EXAMPLES / "iris-v2.onnx").read_bytes(), "2", rounds=3))
        v2 = register_onnx(heavy, "iris", server.url)
        client = server.client()
        client.set_registered_model_alias("iris", "champion", v1.version)
        with warnings.catch_warnings(), mlflow.start_run():
            warnings.simplefilter("ignore")
            est = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
            mlflow.sklearn.log_model(est, name="model", registered_model_name="not-onnx")
        yield Registry(server, v1, v2)
    finally:
        server.stop()
