"""Fixtures for operator tests on the dev cluster: CRDs, a namespace, a running operator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import attempt, new_namespace
from tests.operator_cluster.support import (
    SIMULATED,
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


@pytest.fixture
def operator(crds: Any, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator on ``namespace``; serving pods simulated by kwok (Ready, no process)."""
    op = OperatorProcess(crds, namespace, tmp_path / "operator.log", "--pod-annotation", SIMULATED)
    op.start()
    yield op
    op.stop()
