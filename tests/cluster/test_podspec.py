"""Unit tests of the pure parts of the pod runner: the pod rule and pod -> process plans."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from canaria_devtools.devcluster.podrule import ANNOTATION_RUN, KWOK_QUERY, is_runner_pod
from canaria_devtools.devcluster.podspec import (
    PlanContext,
    plan_container,
    plan_pod,
    rewrite_paths,
    volume_dirs,
)

CANARIA = Path("/venv/bin/canaria")
PYTHON = Path("/venv/bin/python")


def _pod(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": "web-1",
            "namespace": "ns",
            "uid": "0123456789",
            "labels": {"app": "web"},
            "annotations": {},
        },
        "spec": {"containers": containers, "nodeName": "kwok-node-0"},
        "status": {"hostIP": "127.0.0.1"},
    }
    pod["spec"].update(extra)
    return pod


def _ctx(**kw: Any) -> PlanContext:
    base: dict[str, Any] = {
        "canaria": CANARIA,
        "python": PYTHON,
        "pod_ip": "127.1.0.7",
        "volumes": {},
    }
    base.update(kw)
    return PlanContext(**base)


RULE_CASES = [
    ({"image": "ghcr.io/acme/canaria:0.1"}, {}, True),
    ({"image": "registry.k8s.io/pause:3.10"}, {}, False),
    ({"image": "registry.k8s.io/pause:3.10"}, {ANNOTATION_RUN: "true"}, True),
    ({"image": "canaria:dev"}, {ANNOTATION_RUN: "false"}, False),
    ({}, {}, False),
]


@pytest.mark.parametrize(("container", "annotations", "expected"), RULE_CASES)
def test_runner_rule(
    container: dict[str, Any], annotations: dict[str, str], expected: bool
) -> None:
    pod = _pod([{"name": "c", **container}])
    pod["metadata"]["annotations"] = annotations
    assert is_runner_pod(pod) is expected


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
@pytest.mark.parametrize(("container", "annotations", "expected"), RULE_CASES)
def test_kwok_query_agrees_with_python_rule(
    container: dict[str, Any], annotations: dict[str, str], expected: bool
) -> None:
    pod = _pod([{"name": "c", **container}])
    pod["metadata"]["annotations"] = annotations
    out = subprocess.run(
        ["jq", "-c", KWOK_QUERY], input=json.dumps(pod), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == json.dumps(expected)


def test_command_resolution() -> None:
    ctx = _ctx()
    empty = plan_container(_pod([]), {"name": "a", "args": ["serve"]}, ctx)
    assert empty.argv == (str(CANARIA), "serve")
    assert empty.error is None
    named = plan_container(_pod([]), {"name": "a", "command": ["/usr/local/bin/canaria"]}, ctx)
    assert named.argv == (str(CANARIA),)
    py = plan_container(_pod([]), {"name": "a", "command": ["python3", "-m", "x"]}, ctx)
    assert py.argv == (str(PYTHON), "-m", "x")
    other = plan_container(_pod([]), {"name": "a", "command": ["nginx"]}, ctx)
    assert other.error is not None
    assert "nginx" in other.error


def test_env_expansion_field_refs_and_binding() -> None:
    container = {
        "name": "serve",
        "args": ["serve", "--host", "0.0.0.0", "--name=$(MODEL)", "$$(MODEL)", "--host=::"],
        "env": [
            {"name": "MODEL", "value": "iris"},
            {"name": "FULL", "value": "$(MODEL)-v1"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {
                "name": "APP",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}},
            },
            {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}},
            {"name": "CANARIA_HOST", "value": "0.0.0.0"},
        ],
    }
    plan = plan_container(_pod([container]), container, _ctx(configmaps={"cm": {"k": "v"}}))
    assert plan.argv[1:] == (
        "serve",
        "--host",
        "127.1.0.7",
        "--name=iris",
        "$(MODEL)",
        "--host=127.1.0.7",
    )
    env = plan.env
    assert env["FULL"] == "iris-v1"
    assert (env["POD"], env["IP"], env["APP"], env["CFG"]) == ("web-1", "127.1.0.7", "web", "v")
    assert env["CANARIA_HOST"] == "127.1.0.7"


def test_volumes_map_to_local_folders_and_paths_are_rewritten(tmp_path: Path) -> None:
    container = {
        "name": "serve",
        "args": ["--model", "/models/iris.onnx", "--uri=file:///models/x", "/data/models/keep"],
        "env": [{"name": "CANARIA_MODEL_PATH", "value": "/models/iris.onnx"}],
        "workingDir": "/work",
        "volumeMounts": [
            {"name": "models", "mountPath": "/models"},
            {"name": "host", "mountPath": "/work", "subPath": "sub"},
        ],
    }
    pod = _pod(
        [container],
        volumes=[
            {"name": "models", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": "/srv"}},
        ],
    )
    vols = volume_dirs(pod, tmp_path)
    assert vols == {"models": tmp_path / "volumes" / "models", "host": Path("/srv")}
    plan = plan_pod(pod, _ctx(volumes=vols)).main[0]
    local = str(tmp_path / "volumes" / "models")
    assert plan.argv[1:] == (
        "--model",
        f"{local}/iris.onnx",
        f"--uri=file://{local}/x",
        "/data/models/keep",
    )
    assert plan.env["CANARIA_MODEL_PATH"] == f"{local}/iris.onnx"
    assert plan.cwd == "/srv/sub"


def test_rewrite_paths_prefers_the_longest_mount() -> None:
    mounts = [("/models/extra", "/B"), ("/models", "/A")]
    assert rewrite_paths("/models/extra/x /models/y /modelsz", mounts) == "/B/x /A/y /modelsz"


def test_probes_resolve_named_ports() -> None:
    container = {
        "name": "serve",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 5},
    }
    plan = plan_container(_pod([container]), container, _ctx())
    assert plan.readiness is not None
    assert plan.liveness is not None
    assert (plan.readiness.kind, plan.readiness.port, plan.readiness.path) == (
        "http",
        8080,
        "/readyz",
    )
    assert plan.readiness.period == 10.0
    assert plan.startup is None
    assert (plan.liveness.kind, plan.liveness.failure_threshold) == ("tcp", 5)


def test_init_containers_and_restart_policy_are_planned_in_order() -> None:
    pod = _pod(
        [{"name": "main"}],
        initContainers=[{"name": "fetch", "args": ["fetch"]}, {"name": "check"}],
        restartPolicy="OnFailure",
    )
    plan = plan_pod(pod, _ctx())
    assert [c.name for c in plan.init] == ["fetch", "check"]
    assert plan.restart_policy == "OnFailure"


def test_paths_that_exist_here_are_kept_and_replacements_are_not_rewritten_again(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"x")
    top = "/" + model.parts[1]  # "/tmp" for pytest's usual tmp_path
    container = {
        "name": "fetch",
        "args": ["fetch", f"file://{model}", "--dest", "/models/m.onnx", "--scratch", top],
        "volumeMounts": [
            {"name": "scratch", "mountPath": top},
            {"name": "models", "mountPath": "/models"},
        ],
        "startupProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "failureThreshold": 30},
    }
    # Both local folders live under `top` too: a second pass would rewrite them again.
    vols = {"scratch": tmp_path / "scratch", "models": tmp_path / "models"}
    plan = plan_container(
        _pod([container]), container, _ctx(volumes=vols, keep_path=os.path.exists)
    )
    assert plan.argv[1:] == (
        "fetch",
        f"file://{model}",  # exists on this machine: kept
        "--dest",
        f"{tmp_path}/models/m.onnx",
        "--scratch",
        f"{tmp_path}/scratch",  # the mount path itself is always mapped
    )
    assert plan.startup is not None
    assert plan.startup.failure_threshold == 30


def test_a_volume_at_tmp_becomes_tmpdir(tmp_path: Path) -> None:
    container = {"name": "c", "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}
    plan = plan_container(_pod([container]), container, _ctx(volumes={"tmp": tmp_path}))
    assert plan.env["TMPDIR"] == str(tmp_path)


def test_a_bound_claim_maps_to_its_volume_folder(tmp_path: Path) -> None:
    pod = _pod(
        [{"name": "c"}],
        volumes=[
            {"name": "bound", "persistentVolumeClaim": {"claimName": "models"}},
            {"name": "other", "persistentVolumeClaim": {"claimName": "unknown"}},
        ],
    )
    dirs = volume_dirs(pod, tmp_path, {"models": Path("/srv/models")})
    assert dirs == {"bound": Path("/srv/models"), "other": tmp_path / "volumes" / "other"}
