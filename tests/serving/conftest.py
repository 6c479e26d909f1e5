"""Fixtures: three scikit-learn models as ONNX files, and real `canaria serve` processes.

The models are made with `canaria package`'s Python API (skl2onnx, zipmap off, parity-checked,
with a model card: feature names, classes, reference bins), as users make them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import pytest
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from canaria_serving import contract
from canaria_serving.packaging import package_model, write_packaged

N_FEATURES = 6


@dataclass
class Served:
    """A running `canaria serve` process and the scikit-learn model it serves."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    estimator: Any
    x: np.ndarray  # sample rows (float32)
    path: Path
    feature_names: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_model(
    path: Path, estimator: Any, x: np.ndarray, name: str, task: str, card: bool = True
) -> Path:
    """A model as users make it: `canaria package` (card with feature names feat_i, version 3).

    ``card=False`` writes a bare skl2onnx conversion, to test serving a model with no card.
    """
    if card:
        features = [f"feat_{i}" for i in range(x.shape[1])]
        packaged = package_model(estimator, x, name=name, version="3", feature_names=features)
        assert packaged.card.task == task
        write_packaged(packaged, path)
        return path
    onx = to_onnx(estimator, x[:1], options={"zipmap": False} if task == "classification" else None)
    onnx.save(onx, str(path))
    return path


def start_server(
    path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "canaria_operator.cli",
        "serve",
        str(path),
        "--port",
        str(port),
        *args,
    ]
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return url, proc


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise RuntimeError(f"canaria serve exited with {proc.returncode}: {err}")
        try:
            if httpx.get(f"{url}{contract.PATH_READY}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stop_server(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()
    return proc.returncode


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def classifier(model_dir: Path) -> Iterator[Served]:
    x, y = make_classification(
        n_samples=400, n_features=N_FEATURES, n_informative=4, n_classes=3, random_state=0
    )
    x = x.astype(np.float32)
    est = RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0).fit(x, y)
    path = write_model(model_dir / "clf.onnx", est, x, "clf", "classification")
    log = model_dir / "payload.jsonl"
    url, proc = start_server(path, "--payload-log", str(log), "--track", "canary")
    yield Served(
        "clf", url, proc, est, x, path, [f"feat_{i}" for i in range(N_FEATURES)], {"log": log}
    )
    stop_server(proc)


@pytest.fixture(scope="session")
def regressor(model_dir: Path) -> Iterator[Served]:
    x, y = make_regression(n_samples=300, n_features=N_FEATURES, random_state=1)
    x = x.astype(np.float32)
    est = RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0).fit(x, y)
    path = write_model(model_dir / "reg.onnx", est, x, "reg", "regression", card=False)
    url, proc = start_server(path, "--name", "reg", "--version", "7")
    yield Served("reg", url, proc, est, x, path, [f"f{i}" for i in range(N_FEATURES)])
    stop_server(proc)


@pytest.fixture(scope="session")
def pipeline(model_dir: Path) -> Iterator[Served]:
    x, y = make_classification(n_samples=300, n_features=N_FEATURES, random_state=2)
    x = (x * 50 + 10).astype(np.float32)  # the scaler matters
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    path = write_model(model_dir / "pipe.onnx", est, x, "pipe", "classification")
    url, proc = start_server(path, "--max-batch-size", "8", "--max-batch-delay-ms", "2")
    yield Served("pipe", url, proc, est, x, path, [f"feat_{i}" for i in range(N_FEATURES)])
    stop_server(proc)
