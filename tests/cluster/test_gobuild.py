"""The builder fails at once, with a message naming what is missing, without Go or a proxy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from canaria_devtools.devcluster import gobuild
from canaria_devtools.devcluster.versions import COMPONENTS, ETCD, KUBERNETES, component


def test_missing_go_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(gobuild.BuildError, match="Go is not installed"):
        gobuild.find_toolchain(ETCD)


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command")
def test_switched_off_proxy_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off")
    with pytest.raises(gobuild.BuildError, match="proxy is switched off"):
        gobuild.find_toolchain(ETCD)


@pytest.mark.skipif(shutil.which("go") is None, reason="needs the go command")
def test_unreachable_proxy_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(gobuild.BuildError, match=r"proxy http://127\.0\.0\.1:9 is not reachable"):
        gobuild.find_toolchain(ETCD)


def test_binaries_and_recipes() -> None:
    assert KUBERNETES.binaries == (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubectl",
    )
    assert ETCD.go_binaries == ("server",)
    assert ETCD.binaries == ("etcd",)
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in KUBERNETES.ldflags
    assert len({c.recipe_key() for c in COMPONENTS}) == len(COMPONENTS)
    with pytest.raises(KeyError, match="unknown dev-cluster component"):
        component("minikube")


def test_a_stamp_from_another_recipe_is_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CANARIA_CACHE_DIR", str(tmp_path))
    folder = gobuild.component_dir(ETCD)
    folder.mkdir(parents=True)
    binary = folder / "etcd"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    (folder / gobuild.STAMP).write_text('{"recipe": "something-else"}')
    assert not gobuild.is_built(ETCD)
    (folder / gobuild.STAMP).write_text(f'{{"recipe": "{ETCD.recipe_key()}"}}')
    assert gobuild.is_built(ETCD)
