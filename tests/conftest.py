"""Shared fixtures. ``dev_cluster``: the real dev cluster (kube-apiserver, etcd, kwok, ...).

The session fixture reuses a cluster that already runs (``canaria dev-cluster up``); otherwise
it brings one up (building the binaries on first use) and tears it down at the end of the
session (unless ``CANARIA_KEEP_CLUSTER=1``). Failing to bring it up is a test error. Only
``CANARIA_SKIP_CLUSTER=1`` skips the tests marked ``cluster``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from canaria_devtools.devcluster.cluster import DevCluster

SKIP_ENV = "CANARIA_SKIP_CLUSTER"
KEEP_ENV = "CANARIA_KEEP_CLUSTER"  # =1: leave a cluster this session brought up running
SKIP_REASON = f"{SKIP_ENV}=1: tests that need the dev cluster are skipped"


def _skipping() -> bool:
    return os.environ.get(SKIP_ENV) == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _skipping():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def dev_cluster() -> Iterator[DevCluster]:
    """The running dev cluster: ``.kubeconfig`` (Path), ``.prometheus_url`` (str), ``.env()``."""
    if _skipping():
        pytest.skip(SKIP_REASON)
    from canaria_devtools.devcluster.cluster import down, load, up

    existed = load() is not None
    cluster = up()  # reuses (and repairs) a running cluster; builds binaries if missing
    try:
        yield cluster
    finally:
        if not existed and os.environ.get(KEEP_ENV) != "1":
            down()
