"""Small helpers for tests against the dev cluster: kubectl/helm runs and polling."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class HasEnv(Protocol):
    def env(self) -> dict[str, str]: ...


def attempt(
    cluster: HasEnv, *argv: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command (kubectl, helm, ...) with the cluster's env."""
    return subprocess.run(
        list(argv),
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **cluster.env()},
        timeout=timeout,
        check=False,
    )


def run(cluster: HasEnv, *argv: str, stdin: str | None = None, timeout: float = 60) -> str:
    """Run a command with the cluster's env; fail the test on error; returns stdout."""
    proc = attempt(cluster, *argv, stdin=stdin, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def kubectl_json(cluster: HasEnv, *argv: str) -> Any:
    return json.loads(run(cluster, "kubectl", *argv, "-o", "json"))


def apply(cluster: HasEnv, manifest: dict[str, Any]) -> None:
    run(cluster, "kubectl", "apply", "-f", "-", stdin=json.dumps(manifest))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


def new_namespace(cluster: HasEnv, prefix: str, restricted: bool = True) -> str:
    """A fresh namespace; by default the API server's Pod Security admission enforces the
    Restricted standard in it (every pod the operator makes must meet it)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    run(cluster, "kubectl", "create", "namespace", name)
    if restricted:
        run(cluster, "kubectl", "label", "namespace", name, RESTRICTED)
    return name


def pod_when(
    cluster: HasEnv, namespace: str, name: str, predicate: Callable[[dict[str, Any]], bool]
) -> Callable[[], dict[str, Any] | None]:
    """A probe for :func:`wait_for`: the pod once ``predicate(pod)`` holds."""

    def probe() -> dict[str, Any] | None:
        pod: dict[str, Any] = kubectl_json(cluster, "get", "pod", name, "-n", namespace)
        return pod if predicate(pod) else None

    return probe


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def kill_container(cluster: Any, pod: dict[str, Any], container: str) -> None:
    """SIGKILL a pod's container through the node's container runtime (containerd), as an
    OOM kill or a crash would; the kubelet then restarts it."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    (status,) = [s for s in statuses if s["name"] == container]
    container_id = status["containerID"].removeprefix("containerd://")
    ctr = ["ctr", f"--address={cluster.containerd_socket}", "--namespace=k8s.io"]
    subprocess.run(
        [*ctr, "task", "kill", "--signal", "SIGKILL", container_id],
        check=True,
        capture_output=True,
        timeout=30,
    )
