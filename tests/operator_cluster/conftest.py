"""Fixtures for operator tests on the dev cluster: CRDs, a namespace, a running operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import attempt, new_namespace
from tests.operator_cluster.support import (
    Models,
    OperatorProcess,
    install_crds,
    install_gateway_crds,
    peering,
)


@pytest.fixture(scope="session")
def crds(dev_cluster: Any) -> Any:
    install_crds(dev_cluster)
    install_gateway_crds(dev_cluster)
    return dev_cluster


@pytest.fixture
def namespace(crds: Any) -> Iterator[str]:
    ns = new_namespace(crds, "op")
    peering(crds, ns)
    yield ns
    attempt(crds, "kubectl", "delete", "namespace", ns, "--wait=false")


def image_env(image: str) -> dict[str, str]:
    """The operator's settings for pods on the dev cluster's node: the image built here."""
    return {"CANARIA_OPERATOR_IMAGE": image, "CANARIA_OPERATOR_IMAGE_PULL_POLICY": "Never"}


@pytest.fixture
def models(model_store: Any, namespace: str) -> Models:
    return Models(model_store, namespace)


@pytest.fixture
def operator(
    crds: Any, namespace: str, tmp_path: Path, dev_image: str
) -> Iterator[OperatorProcess]:
    """The operator on ``namespace`` (a process here); its pods run on the real node."""
    op = OperatorProcess(crds, namespace, tmp_path / "operator.log", env=image_env(dev_image))
    op.start()
    yield op
    op.stop()
