"""A tracking server that does not proxy artifacts: versions live in S3 (moto's S3 server on
127.0.0.1), the operator lists and hashes them there with the Secret's AWS variables, and the
fetch downloads the directory with ListObjectsV2 and SigV4-signed GETs."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import onnxruntime as ort
import pytest

from canaria_operator.fetch import fetch
from canaria_operator.registry.client import Credentials
from canaria_operator.registry.resolve import Follower, Resolver
from canaria_operator.registry.uri import parse_models_uri
from canaria_serving.modeldir import directory_digest
from canaria_serving.packaging.register import Registered, register_onnx
from tests.e2e.models import slow_variant
from tests.e2e.tracking import TrackingServer
from tests.registry.conftest import EXAMPLES


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TrackingServer, Registered, dict[str, str]]]:
    import boto3
    from moto.server import ThreadedMotoServer

    port = _port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    aws = {
        "AWS_ACCESS_KEY_ID": "canaria",
        "AWS_SECRET_ACCESS_KEY": "canaria-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    saved = {k: os.environ.get(k) for k in (*aws, "MLFLOW_S3_ENDPOINT_URL")}
    os.environ.update(aws)
    os.environ["MLFLOW_S3_ENDPOINT_URL"] = endpoint  # the MLflow client writes to S3 itself
    tmp = tmp_path_factory.mktemp("mlflow-s3")
    server = TrackingServer(None, "127.0.0.1", tmp, artifact_root="s3://models/mlflow")
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="models")
        server.start()
        heavy = tmp / "iris-heavy.onnx"
        heavy.write_bytes(slow_variant((EXAMPLES / "iris-v2.onnx").read_bytes(), "2", rounds=3))
        yield server, register_onnx(heavy, "iris-s3", server.url), aws
    finally:
        server.stop()
        moto.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def test_resolved_and_fetched_from_s3(
    s3_registry: tuple[TrackingServer, Registered, dict[str, str]], tmp_path: Path
) -> None:
    server, registered, aws = s3_registry

    async def creds() -> Credentials:
        return Credentials.from_env(aws)

    resolver = Resolver()
    follower = Follower("ns", "md", server.url, parse_models_uri("models:/iris-s3/1"), "s")
    try:
        read = await resolver.read(follower, creds, {}, 60)
    finally:
        await resolver.aclose()
    assert read.resolved is not None, read
    assert read.resolved.location.startswith("mlflow+s3://models/mlflow/")
    assert read.resolved.digest == registered.digest
    dest = tmp_path / "model"
    fetch(read.resolved.location, dest, registered.digest, retries=0, log=print)
    assert directory_digest(dest) == registered.digest
    assert len(list(dest.iterdir())) > 2  # MLmodel, model.onnx, external data, ...
    session = ort.InferenceSession(str(dest / "model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "X"
