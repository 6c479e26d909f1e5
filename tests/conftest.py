"""Shared fixtures. ``dev_cluster``: the real dev cluster (control plane and a real node);
``dev_image``: the project's image built from this checkout and loaded into the node;
``model_store``: a folder the cluster's pods fetch models from over HTTP.

The session fixture reuses a cluster that already runs (``canaria dev-cluster up``); otherwise
it brings one up (building the binaries on first use) and tears it down at the end of the
session (unless ``CANARIA_KEEP_CLUSTER=1``). Failing to bring it up is a test error. Only
``CANARIA_SKIP_CLUSTER=1`` skips the tests marked ``cluster``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
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
    # Tests that bring their own clusters up and down run before the session cluster starts,
    # so they can check that the last `down` puts the kernel settings back.
    items.sort(key=lambda item: "lifecycle" not in item.keywords)
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


@pytest.fixture(scope="session")
def dev_image(dev_cluster: DevCluster) -> str:
    """The image built from this checkout's Dockerfile, in the node's containerd (rebuilt
    only when the files it copies changed)."""
    from canaria_devtools.devcluster.cluster import build_image

    ref, _, _ = build_image()
    return ref


class ModelStore:
    """Files served from inside the cluster's network namespace (pods fetch them)."""

    def __init__(self, folder: Path, url: str) -> None:
        self.folder, self.url = folder, url

    def publish(self, path: Path, name: str | None = None) -> str:
        """Copy ``path`` into the store; returns the URL pods fetch it from."""
        target = self.folder / (name or path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return f"{self.url}/{target.relative_to(self.folder)}"


@pytest.fixture(scope="session")
def model_store(
    dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelStore]:
    from canaria_devtools.devcluster.inside import FileServer

    folder = tmp_path_factory.mktemp("model-store")
    with FileServer(dev_cluster.net.name, folder, dev_cluster.net.node_ip) as server:
        yield ModelStore(folder, server.url)
